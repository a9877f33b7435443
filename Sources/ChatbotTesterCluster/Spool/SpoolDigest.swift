import ChatbotTesterCore
import Foundation

/// The digest recorded for every spool file (shards, `setup.json`, `manifest.json`) when it is
/// written and checked when it is used: SHA-256, as 64 lowercase hex digits.
enum SpoolDigest {
    static func sha256(_ data: Data) -> String {
        var hasher = SHA256Hasher()
        data.withUnsafeBytes { hasher.update($0) }
        return hasher.finalizeHex()
    }
}
