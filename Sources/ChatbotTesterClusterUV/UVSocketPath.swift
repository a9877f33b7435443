import CLibUV
import ChatbotTesterCore
import Foundation

/// Checks and prepares the path of a coordinator socket.
///
/// The socket lives in a directory owned by us with mode 0700 (verified with `lstat`, so a
/// symlink or someone else's directory is refused); the socket itself gets 0600. The path must fit
/// `sun_path` (libuv would silently truncate it). A stale socket (nothing listening) is unlinked; a
/// live one is refused.
public enum UVSocketPath {
    /// The longest path a Unix socket can have here, in bytes.
    public static var maxLength: Int { Int(cbt_max_socket_path()) }

    /// Throws unless `path` fits `sun_path`.
    public static func checkLength(_ path: String) throws {
        guard path.utf8.count <= maxLength else {
            throw ChatbotTesterError(
                .invalidConfig, "socket path is \(path.utf8.count) bytes, longer than the \(maxLength) a Unix socket allows; use a shorter path",
                location: SourceLocation(source: path))
        }
    }

    /// Prepares `path` for binding: creates its directory 0700 when missing, verifies owner and
    /// mode, and removes a stale socket.
    public static func prepareForListening(_ path: String) throws {
        try checkLength(path)
        let directory = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        if !FileManager.default.fileExists(atPath: directory) {
            guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
                throw ChatbotTesterError(.io, "cannot create socket directory: \(String(cString: strerror(errno)))", location: SourceLocation(source: directory))
            }
        }
        try verifyPrivateDirectory(directory)
        switch cbt_is_socket(path) {
        case 1:
            let live = cbt_socket_is_live(path)
            if live == 1 {
                throw ChatbotTesterError(.invalidConfig, "a coordinator is already listening on this socket", location: SourceLocation(source: path))
            }
            guard unlink(path) == 0 else {
                throw ChatbotTesterError(.io, "cannot remove stale socket: \(String(cString: strerror(errno)))", location: SourceLocation(source: path))
            }
        case 0:
            throw ChatbotTesterError(.invalidConfig, "path exists and is not a socket; refusing to replace it", location: SourceLocation(source: path))
        default:
            break  // absent
        }
    }

    /// Throws unless `directory` is a real directory (not a symlink) owned by this user with no
    /// group or other permissions.
    public static func verifyPrivateDirectory(_ directory: String) throws {
        var uid: UInt32 = 0, mode: UInt32 = 0, isDirectory: Int32 = 0
        let rc = cbt_lstat_dir(directory, &uid, &mode, &isDirectory)
        guard rc == 0 else {
            throw ChatbotTesterError(.io, "cannot lstat socket directory: \(String(cString: strerror(-rc)))", location: SourceLocation(source: directory))
        }
        guard isDirectory == 1 else {
            throw ChatbotTesterError(.invalidConfig, "socket directory is not a directory (symlinks are refused)", location: SourceLocation(source: directory))
        }
        guard uid == geteuid() else {
            throw ChatbotTesterError(.invalidConfig, "socket directory is owned by uid \(uid), not by us (\(geteuid()))", location: SourceLocation(source: directory))
        }
        guard mode & 0o077 == 0 else {
            throw ChatbotTesterError(
                .invalidConfig, String(format: "socket directory has mode %o; it must be 0700 (chmod 700)", mode), location: SourceLocation(source: directory))
        }
    }

    /// The same-uid policy applied to peers (exposed for tests with fake uids).
    public static func allowsPeer(ownUid: UInt32, peerUid: UInt32) -> Bool {
        cbt_check_peer_uid(ownUid, peerUid) == 0
    }
}
