import Foundation

/// Executables SwiftPM builds beside the test bundle (a test target that depends on an executable
/// target gets it built first), found from the running test binary.
public enum BuiltExecutable {
    /// The path of the executable `name` in the test binary's build directory (or the nearest
    /// directory above it that holds one: the test bundle may sit inside a `.xctest` directory).
    public static func path(_ name: String) -> String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: me).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path) && directory.path != "/" {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent(name).path
    }
}
