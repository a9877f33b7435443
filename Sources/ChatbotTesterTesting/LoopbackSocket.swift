import ChatbotTesterCore
import Foundation

/// A listening TCP socket on `127.0.0.1` at a port the kernel picks: what the loopback test
/// servers (`ClosingListener`, `LoopbackHTTPRecorder`) accept on.
enum LoopbackSocket {
    /// Binds `127.0.0.1:0` and listens; returns the descriptor and the bound port.
    static func listen(backlog: Int32 = 128) throws -> (fd: Int32, port: Int) {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw ChatbotTesterError(.io, "socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw -> Bool in
                bind(fd, raw, length) == 0 && Foundation.listen(fd, backlog) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        guard bound else {
            let error = errno
            close(fd)
            throw ChatbotTesterError(.io, "cannot listen on 127.0.0.1: errno \(error)")
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }
}
