import ChatbotTesterCore
import Foundation

/// The shards of a spool being written, as they are committed (`ClusterSpoolWriter` with
/// `streamingShards`): the writer adds each one, then says the spool is complete (or failed);
/// one coordinator takes them as they come (`next()`) and looks shards up by id meanwhile.
///
/// A feed that `holds` its shards gives none before `finish(total:)` (the source was checked
/// whole): a coordinator serving it welcomes its workers while the spool is written, and hands
/// out the first sample only once every line was checked, as one process refuses a dataset
/// before its first request.
final class SpoolShardFeed: @unchecked Sendable {
    /// Whether shards wait for `finish(total:)`.
    let holds: Bool
    /// What `next()` gives: shards committed since the last call, and the run's sample count once
    /// the spool is complete.
    struct Update: Sendable {
        var shards: [ClusterManifest.Shard]
        var total: Int?
    }

    private let lock = NSLock()
    private var shards: [ClusterManifest.Shard] = []
    private var taken = 0
    private var end: Result<Int, any Error>?
    private var endTaken = false
    /// The coordinator's task, parked in `next()` until a shard or the end comes.
    private var reader = ParkingSlot()

    init(holds: Bool = false) {
        self.holds = holds
    }

    /// Whether `next()` may give shards now.
    private var open: Bool { !holds || end != nil }

    /// A committed shard (its file written and its digest known).
    func add(_ shard: ClusterManifest.Shard) {
        resume(lock.withLock {
            shards.append(shard)
            // A held shard wakes nobody: the reader could not take it.
            return open ? reader.wake() : nil
        })
    }

    /// Every shard is added: `total` samples. Said when the spool is complete, or earlier, once
    /// the source was checked whole (`ClusterSpoolWriter.releaseShards()`: the files are not
    /// durable yet, and a failure to make them so is the writer's to throw, not the feed's).
    func finish(total: Int) {
        resume(lock.withLock {
            if end == nil { end = .success(total) }
            return reader.wake()
        })
    }

    /// The spool will not be completed (the dataset was refused, a file could not be written).
    func fail(_ error: any Error) {
        resume(lock.withLock {
            if end == nil { end = .failure(error) }
            return reader.wake()
        })
    }

    /// The shards committed so far, in dataset order.
    var committed: [ClusterManifest.Shard] { lock.withLock { shards } }

    /// Shard `id`, once added.
    func shard(_ id: Int) -> ClusterManifest.Shard? {
        lock.withLock { shards.indices.contains(id) && shards[id].id == id ? shards[id] : shards.first { $0.id == id } }
    }

    /// The shards added since the last call (waiting for one when there is none) and, once the
    /// spool is complete, its sample count; nil after that was given. Throws the writer's failure.
    func next() async throws -> Update? {
        while true {
            let taking: Result<Update?, any Error>? = lock.withLock {
                // Whatever woke the reader is seen now.
                reader.consumeWake()
                if (open && taken < shards.count) || (end != nil && !endTaken) {
                    let fresh = Array(shards[taken...])
                    taken = shards.count
                    switch end {
                    case .failure(let error)?:
                        endTaken = true
                        return .failure(error)
                    case .success(let total)?:
                        endTaken = true
                        return .success(Update(shards: fresh, total: total))
                    case nil:
                        return .success(Update(shards: fresh, total: nil))
                    }
                }
                return endTaken ? .success(nil) : nil
            }
            if let taking { return try taking.get() }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    resume(lock.withLock {
                        if (open && taken < shards.count) || end != nil || Task.isCancelled { return continuation }
                        return reader.park(continuation)
                    })
                }
            } onCancel: {
                resume(lock.withLock { reader.wake() })
            }
            if Task.isCancelled { throw CancellationError() }
        }
    }

    private func resume(_ waiter: ParkingSlot.Waiter?) {
        waiter?.resume()
    }
}
