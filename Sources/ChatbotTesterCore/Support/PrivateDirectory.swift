import Foundation

/// Directories only this user can read or write: where a process keeps state another local user
/// must not plant (a worker's response cache, say).
///
/// ```swift
/// let fresh = try PrivateDirectory.makeFresh(prefix: "chatbot-tester-worker")   // /tmp/chatbot-tester-worker-Ab3xYz, 0700
/// let given = try PrivateDirectory.verifyOrCreate(URL(fileURLWithPath: "/var/lib/ct/state"))
/// ```
public enum PrivateDirectory {
    /// Creates a new directory `<prefix>-XXXXXX` (random suffix, `mkdtemp(3)`) with mode 0700 in
    /// `parent` (the temporary directory by default).
    ///
    /// - Throws: `.io` when it cannot be created.
    public static func makeFresh(prefix: String, in parent: URL? = nil) throws -> URL {
        let parent = parent ?? URL(fileURLWithPath: NSTemporaryDirectory())
        var template = Array(parent.appendingPathComponent("\(prefix)-XXXXXX").path.utf8CString)
        guard let made = mkdtemp(&template) else {
            throw ChatbotTesterError(
                .io, "cannot create a private directory: \(String(cString: strerror(errno)))", location: SourceLocation(source: parent.path))
        }
        return URL(fileURLWithPath: String(cString: made), isDirectory: true)
    }

    /// `url` as a private directory: created with mode 0700 when missing; when it exists it must
    /// be a directory itself (not a symbolic link), owned by this process' user and closed to
    /// group and others.
    ///
    /// - Throws: `.io` naming the directory and what is wrong with it (owner, mode, type), or why
    ///   it cannot be created.
    @discardableResult
    public static func verifyOrCreate(_ url: URL) throws -> URL {
        let path = url.path
        let location = SourceLocation(source: path)
        let parent = url.deletingLastPathComponent()
        if !FileManager.default.fileExists(atPath: parent.path) {
            do {
                try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
            } catch {
                throw ChatbotTesterError(.io, "cannot create \(parent.path)", location: location, cause: error)
            }
        }
        if mkdir(path, 0o700) == 0 { return url }
        guard errno == EEXIST else {
            throw ChatbotTesterError(.io, "cannot create the private directory: \(String(cString: strerror(errno)))", location: location)
        }
        var info = stat()
        guard lstat(path, &info) == 0 else {
            throw ChatbotTesterError(.io, "cannot inspect the private directory: \(String(cString: strerror(errno)))", location: location)
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            let what = info.st_mode & S_IFMT == S_IFLNK ? "a symbolic link" : "not a directory"
            throw ChatbotTesterError(.io, "refusing to keep private state in \(path): it is \(what)", location: location)
        }
        guard info.st_uid == geteuid() else {
            throw ChatbotTesterError(
                .io, "refusing to keep private state in \(path): it is owned by uid \(info.st_uid), not by this user (uid \(geteuid()))",
                location: location)
        }
        guard info.st_mode & 0o077 == 0 else {
            throw ChatbotTesterError(
                .io, "refusing to keep private state in \(path): its mode is \(String(info.st_mode & 0o777, radix: 8)), not 700 (chmod 700 it)",
                location: location)
        }
        return url
    }
}
