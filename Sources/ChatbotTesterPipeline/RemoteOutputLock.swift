import ChatbotTesterCore
import Foundation

/// One run per remote output (`--out s3://…`) at a time: a lease in the store, taken with the
/// store's conditional create (S3 `If-None-Match: *`), so of any number of runs racing for it
/// exactly one wins.
///
/// Leases are numbered: `.chatbot-tester.lock/<generation>` (10 digits). The newest generation is
/// the lock. A run takes it by creating the next generation, which only one writer can do; it
/// renews its own object every `leaseSeconds / 4` and marks it released at the end. A lease not
/// renewed for `leaseSeconds` (`CHATBOT_TESTER_LEASE_SECONDS`, default 60; its holder crashed, or its pod was killed), or one whose holder was
/// a process on this host that no longer exists, is stale and taken over by creating the next
/// generation. Generations below the newest are removed by the winner.
public final class RemoteOutputLock: Sendable {
    /// The key prefix of the leases.
    public static let prefix = ".chatbot-tester.lock/"

    /// How long a lease holds without renewal: `CHATBOT_TESTER_LEASE_SECONDS` (default 60, at
    /// least 1). A run records its own lease length in its lease, so a killed pod's lease lapses
    /// after the length that pod was started with.
    public static var leaseSeconds: Double {
        let seconds = ProcessInfo.processInfo.environment["CHATBOT_TESTER_LEASE_SECONDS"].flatMap(Double.init) ?? 60
        return seconds.isFinite ? max(1, seconds) : 60
    }

    /// What a lease object holds.
    public struct Lease: Codable, Sendable {
        public var holder: OutputDirectoryLock.Holder
        public var renewedAt: Date
        public var leaseSeconds: Double
        public var released: Bool

        public init(holder: OutputDirectoryLock.Holder, renewedAt: Date, leaseSeconds: Double, released: Bool) {
            self.holder = holder
            self.renewedAt = renewedAt
            self.leaseSeconds = leaseSeconds
            self.released = released
        }

        /// Whether the lease no longer holds: released, not renewed in time, or held by a dead
        /// process of this host.
        public func isStale(now: Date = Date(), host: String = ProcessInfo.processInfo.hostName) -> Bool {
            if released || now.timeIntervalSince(renewedAt) > leaseSeconds { return true }
            if holder.host == host, holder.pid > 0, kill(holder.pid, 0) != 0, errno == ESRCH { return true }
            return false
        }
    }

    private let store: any ArtifactStore
    private let key: String
    private let lease: Locked<Lease>
    private let renewal: Locked<Task<Void, Never>?> = Locked(nil)

    private init(store: any ArtifactStore, key: String, lease: Lease) {
        self.store = store
        self.key = key
        self.lease = Locked(lease)
    }

    deinit {
        renewal.withLock { $0?.cancel() }
    }

    static func key(_ generation: Int) -> String {
        let digits = String(generation)
        return prefix + String(repeating: "0", count: max(0, 10 - digits.count)) + digits
    }

    /// The newest lease in `store` and its generation (`nil` when none).
    public static func newest(in store: any ArtifactStore) async throws -> (generation: Int, lease: Lease?)? {
        let generations = try await store.list(prefix: prefix).compactMap { Int($0.dropFirst(prefix.count)) }
        guard let top = generations.max() else { return nil }
        let data = try? await store.read(key(top))
        return (top, data.flatMap { try? JSONCoding.decoder().decode(Lease.self, from: $0) })
    }

    /// Takes the lock on the remote output `store` (named `url` in messages).
    ///
    /// - Throws: `.busy` naming the holder (pid, host, command, start) and when its lease expires.
    public static func acquire(
        store: any ArtifactStore, url: String, holder: OutputDirectoryLock.Holder = .current, leaseSeconds: Double = RemoteOutputLock.leaseSeconds
    ) async throws -> RemoteOutputLock {
        let encoder = JSONCoding.encoder()
        for _ in 0..<8 {
            let newest = try await newest(in: store)
            if let newest, let lease = newest.lease, !lease.isStale() {
                let expires = lease.renewedAt.addingTimeInterval(lease.leaseSeconds).iso8601String
                throw ChatbotTesterError(
                    .busy,
                    "another run is using this output: \(lease.holder); wait for it to finish (its lease runs to \(expires) unless renewed) or choose another --out",
                    location: SourceLocation(source: url))
            }
            let generation = (newest?.generation ?? 0) + 1
            let mine = Lease(holder: holder, renewedAt: Date(), leaseSeconds: leaseSeconds, released: false)
            guard try await store.createIfAbsent(try encoder.encode(mine), at: key(generation)) else { continue }
            for older in try await store.list(prefix: prefix) {
                if let number = Int(older.dropFirst(prefix.count)), number < generation { try? await store.delete(older) }
            }
            let lock = RemoteOutputLock(store: store, key: key(generation), lease: mine)
            lock.startRenewing()
            return lock
        }
        throw ChatbotTesterError(.busy, "the output's lock keeps changing hands", location: SourceLocation(source: url))
    }

    private func startRenewing() {
        let interval = max(0.05, lease.withLock { $0.leaseSeconds } / 4)
        let task = Task { [store, key, lease] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
                if Task.isCancelled { return }
                let renewed = lease.withLock { value -> Lease in
                    value.renewedAt = Date()
                    return value
                }
                if let data = try? JSONCoding.encoder().encode(renewed) { try? await store.write(data, to: key) }
            }
        }
        renewal.withLock { $0 = task }
    }

    /// Stops renewing and marks the lease released (the next run takes the next generation).
    public func release() async {
        let task = renewal.withLock { task -> Task<Void, Never>? in
            defer { task = nil }
            return task
        }
        guard let task else { return }
        task.cancel()
        await task.value
        let released = lease.withLock { value -> Lease in
            value.released = true
            value.renewedAt = Date()
            return value
        }
        if let data = try? JSONCoding.encoder().encode(released) { try? await store.write(data, to: key) }
    }

    @TaskLocal private static var held: Set<String> = []

    /// Runs `body` holding the lock on `url`'s store; nested calls for the same URL in one task
    /// tree take it once.
    public static func withLock<T>(
        store: any ArtifactStore, url: String, isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T
    ) async throws -> T {
        if held.contains(url) { return try await body() }
        let lock = try await acquire(store: store, url: url)
        do {
            let value = try await $held.withValue(held.union([url])) { try await body() }
            await lock.release()
            return value
        } catch {
            await lock.release()
            throw error
        }
    }
}
