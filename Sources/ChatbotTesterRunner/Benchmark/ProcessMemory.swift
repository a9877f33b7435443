import Foundation

/// Resident memory of this process, from `/proc/self/status` (Linux); `nil` elsewhere.
public enum ProcessMemory {
    /// Peak resident set size (`VmHWM`) in bytes.
    public static var peakResidentBytes: Int? { statusField("VmHWM:") }

    /// Current resident set size (`VmRSS`) in bytes.
    public static var residentBytes: Int? { statusField("VmRSS:") }

    private static func statusField(_ name: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            let digits = line.dropFirst(name.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
            return digits.map { $0 * 1024 }
        }
        return nil
    }
}
