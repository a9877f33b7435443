import ChatbotTesterFuzzing
import Foundation

#if FUZZING
/// libFuzzer's driver (linked by `-sanitize=fuzzer`): runs `callback` on the inputs it makes.
@_silgen_name("LLVMFuzzerRunDriver")
private func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The harness libFuzzer drives: `FUZZ_HARNESS` (one of `FuzzHarness`' names).
nonisolated(unsafe) private var harness: FuzzHarness = chosenHarness()

private func chosenHarness() -> FuzzHarness {
    let name = ProcessInfo.processInfo.environment["FUZZ_HARNESS"] ?? ""
    guard let chosen = FuzzHarness(rawValue: name) else {
        FileHandle.standardError.write(Data("FUZZ_HARNESS must be one of: \(FuzzHarness.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
        exit(2)
    }
    return chosen
}

/// One input, as libFuzzer hands it over (its own `main` calls this when it is the entry point).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = data.map { Data(bytes: $0, count: size) } ?? Data()
    if let failure = harness.check(input) { fatalError("\(harness.rawValue): \(failure)\ninput: \(FuzzHarness.describe(input))") }
    return 0
}
#endif

/// `chatbot-tester-fuzz HARNESS FILE|DIRECTORY…` runs the harness on each input and reports what
/// failed (exit 1); built with `ops/fuzz.sh` (`-sanitize=fuzzer -DFUZZING`), libFuzzer drives it
/// instead (`FUZZ_HARNESS=HARNESS`).
@main
struct FuzzEntry {
    static func main() {
        #if FUZZING
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(runFuzzerDriver(&argc, &argv, fuzzOne))
        #else
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let name = arguments.first, let harness = FuzzHarness(rawValue: name), arguments.count > 1 else {
            let names = FuzzHarness.allCases.map(\.rawValue).joined(separator: "|")
            FileHandle.standardError.write(Data("usage: chatbot-tester-fuzz \(names) FILE|DIRECTORY…\n".utf8))
            exit(2)
        }
        var failures = 0
        var count = 0
        for path in arguments.dropFirst() {
            for file in FuzzHarness.files(at: URL(fileURLWithPath: path)) {
                count += 1
                guard let input = try? Data(contentsOf: file) else {
                    print("\(file.path): cannot read")
                    failures += 1
                    continue
                }
                if let failure = harness.check(input) {
                    print("\(file.path): \(failure)")
                    failures += 1
                }
            }
        }
        print("\(harness.rawValue): \(count) inputs, \(failures) failed")
        exit(failures == 0 ? 0 : 1)
        #endif
    }
}
