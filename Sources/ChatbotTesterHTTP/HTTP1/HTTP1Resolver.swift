#if os(Linux)
import ChatbotTesterCore
import Foundation
import Glibc

/// One address to connect to: a `sockaddr_in` or `sockaddr_in6`.
struct HTTP1Address: Sendable {
    var storage: sockaddr_storage
    var length: socklen_t
    var family: Int32 { Int32(storage.ss_family) }

    init?(literal host: String, port: Int) {
        var v4 = sockaddr_in()
        var v6 = sockaddr_in6()
        if inet_pton(AF_INET, host, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = in_port_t(UInt16(port).bigEndian)
            self.init(bytesOf: &v4)
        } else if inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = in_port_t(UInt16(port).bigEndian)
            self.init(bytesOf: &v6)
        } else {
            return nil
        }
    }

    private init<Address>(bytesOf address: inout Address) {
        storage = sockaddr_storage()
        length = socklen_t(MemoryLayout<Address>.size)
        withUnsafeBytes(of: &address) { source in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: source) } }
    }

    init(copying address: UnsafePointer<sockaddr>, length: socklen_t) {
        storage = sockaddr_storage()
        self.length = min(length, socklen_t(MemoryLayout<sockaddr_storage>.size))
        let count = Int(self.length)
        withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: address, count: count)) }
    }
}

/// Host names to addresses for the own path: literals at once, `localhost` as 127.0.0.1 then ::1
/// (no lookup), other names with `getaddrinfo` on a queue of their own (it blocks), each name
/// looked up once at a time however many requests want it, and remembered for a minute.
enum HTTP1Resolver {
    private struct Entry {
        var addresses: [HTTP1Address]
        var expires: UInt64
    }

    private static let cache = Locked<[String: Entry]>([:])
    private static let pending = Locked<[String: Task<Result<[HTTP1Address], HTTPClientError>, Never>]>([:])
    static let lifetime: UInt64 = 60_000_000_000
    static let cacheLimit = 256

    /// The addresses of `host` (port `port`), in the order to try them.
    static func addresses(_ host: String, port: Int) async -> Result<[HTTP1Address], HTTPClientError> {
        if let literal = HTTP1Address(literal: host, port: port) { return .success([literal]) }
        if host == "localhost" || host == "localhost." {
            return .success([HTTP1Address(literal: "127.0.0.1", port: port)!, HTTP1Address(literal: "::1", port: port)!])
        }
        let key = "\(host):\(port)"
        let now = HTTPClock.now()
        if let entry = cache.withLock({ $0[key] }), entry.expires > now { return .success(entry.addresses) }
        let task = pending.withLock { running -> Task<Result<[HTTP1Address], HTTPClientError>, Never> in
            if let task = running[key] { return task }
            let task = Task<Result<[HTTP1Address], HTTPClientError>, Never> {
                let result: Result<[HTTP1Address], HTTPClientError>
                do {
                    result = try await BlockingIO.run { lookUp(host, port: port) }
                } catch {
                    result = .failure(HTTPClientError(.dns, "DNS lookup of \(host) failed"))
                }
                if case .success(let addresses) = result {
                    cache.withLock { cache in
                        if cache.count >= cacheLimit { cache.removeAll(keepingCapacity: true) }
                        cache[key] = Entry(addresses: addresses, expires: HTTPClock.now() + lifetime)
                    }
                }
                _ = pending.withLock { $0.removeValue(forKey: key) }
                return result
            }
            running[key] = task
            return task
        }
        return await task.value
    }

    /// `getaddrinfo` for TCP, IPv4 and IPv6 in the system's order.
    private static func lookUp(_ host: String, port: Int) -> Result<[HTTP1Address], HTTPClientError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else { return .failure(HTTPClientError(.dns, "DNS lookup of \(host) failed")) }
        defer { freeaddrinfo(first) }
        var addresses: [HTTP1Address] = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let current = node {
            if let address = current.pointee.ai_addr, current.pointee.ai_family == AF_INET || current.pointee.ai_family == AF_INET6 {
                addresses.append(HTTP1Address(copying: address, length: current.pointee.ai_addrlen))
            }
            node = current.pointee.ai_next
        }
        return addresses.isEmpty ? .failure(HTTPClientError(.dns, "DNS lookup of \(host) failed")) : .success(addresses)
    }
}
#endif
