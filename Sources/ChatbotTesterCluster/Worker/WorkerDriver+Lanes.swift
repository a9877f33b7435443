import ChatbotTesterCore
import Foundation

/// What a worker's lanes and flusher share with its driver, under one lock: the lane machine, the
/// processor, the lanes' tasks (to cancel them on exit) and the parked flusher.
struct WorkerLanes: Sendable {
    var machine: WorkerLaneMachine
    /// Building the processor (set at `welcome`).
    var building: Task<(any ShardProcessor)?, Never>?
    /// The processor, once built and seen by a lane.
    var processor: (any ShardProcessor)?
    /// Whether records go to the journal from this worker (set at `welcome`, before any lane).
    var journalsRecords = false
    /// Whether the spool's samples are the cases as written (`Welcome.samplesAsWritten`): a
    /// record's line then holds the case encoded here, not the spool's bytes.
    var samplesAsWritten = false
    private var tasks: [Int: Task<Void, Never>] = [:]
    /// Lanes that ended before their task was stored.
    private var ended: Set<Int> = []
    private var lastLane = 0
    /// The flusher, parked while no record waits.
    private var flusher = ParkingSlot()

    init(machine: WorkerLaneMachine) {
        self.machine = machine
    }

    mutating func nextLane() -> Int {
        lastLane += 1
        return lastLane
    }

    mutating func started(_ key: Int, _ task: Task<Void, Never>) {
        if ended.remove(key) == nil { tasks[key] = task }
    }

    mutating func ended(_ key: Int) {
        if tasks.removeValue(forKey: key) == nil { ended.insert(key) }
    }

    mutating func takeTasks() -> [Task<Void, Never>] {
        defer { tasks = [:] }
        return Array(tasks.values)
    }

    /// Wakes the parked flusher: the continuation to resume once the lock is let go.
    mutating func wakeFlusher() -> ParkingSlot.Waiter? {
        flusher.wake()
    }

    /// The flusher's next step at `now` (which sees whatever woke it).
    mutating func flusherStep(now: UInt64) -> WorkerLaneMachine.FlusherStep {
        flusher.consumeWake()
        return machine.flusherStep(now: now)
    }

    /// Parks the flusher unless a record waits already or the worker stopped; returns the
    /// continuation to resume at once when it is not parked.
    mutating func parkFlusher(_ waiter: ParkingSlot.Waiter) -> ParkingSlot.Waiter? {
        if machine.stopped || machine.waitingRecords > 0 { return waiter }
        return flusher.park(waiter)
    }
}

extension WorkerDriver {
    /// A lane: plays `first`, then each sample the lane machine hands it, off the actor. Per sample
    /// it takes the lock twice (its record, its finish) and visits the actor only to send a frame.
    nonisolated static func makeLane(_ driver: WorkerDriver, key: Int, first: IndexedSample) -> Task<Void, Never> {
        Task(executorPreference: driver.executor) { await driver.lane(key: key, first: first) }
    }

    /// The flusher: sends records that waited `flushDelay`, parked while none wait.
    nonisolated static func startFlusher(_ driver: WorkerDriver) -> Task<Void, Never> {
        Task(executorPreference: driver.executor) { await driver.flushWhileRunning() }
    }

    private nonisolated func lane(key: Int, first: IndexedSample) async {
        let processor = await readyProcessor()
        let (journals, asWritten) = lanes.withLock { ($0.journalsRecords, $0.samplesAsWritten) }
        var item: IndexedSample? = first
        while let current = item {
            var failure: (any Error)?
            if let processor, !Task.isCancelled {
                failure = await play(current, with: processor, journals: journals, samplesAsWritten: asWritten)
            }
            let finish = lanes.withLock { $0.machine.finished() }
            if let frame = finish.frame {
                await send(frame)
                if let handBack = finish.handBack { await handBackQueue(handBack) }
                if finish.full { await connection.waitUntilWritable() }
            }
            if let failure, !Task.isCancelled { await fail(ChatbotTesterError.wrap(failure)) }
            item = finish.next
        }
        lanes.withLock { $0.ended(key) }
    }

    /// Plays one sample, collecting its records as they come; returns what the processor threw.
    private nonisolated func play(_ item: IndexedSample, with processor: any ShardProcessor, journals: Bool, samplesAsWritten: Bool) async -> (any Error)? {
        do {
            try await processor.process([item]) { record in
                do {
                    let encoded: WorkerEncodedRecord
                    if journals, !record.reportsATargetDown {
                        // The line goes to the journal from here: the coordinator reads back only
                        // what the frame says of it, so the ids are held to the sample's here.
                        guard record.sampleId == item.sample.id, record.run.sampleId == record.sampleId, record.index == item.index else {
                            throw ChatbotTesterError(
                                .internal, "the record of '\(item.sample.id)' at index \(item.index) names '\(record.sampleId)' at \(record.index), its run '\(record.run.sampleId)'")
                        }
                        // The sample as the spool holds it when it is the one assigned and the spool
                        // holds it encoded (masking may have changed it: then it is encoded), as the
                        // coordinator would put it back. A case as the dataset wrote it is encoded
                        // here from what was decoded, as one process writes it.
                        let assigned = !samplesAsWritten && record.run.sample == item.sample ? item.encodedSample : nil
                        let (unit, line) = try record.journaledUnit(sampleJSON: assigned)
                        encoded = WorkerEncodedRecord(sampleId: record.sampleId, bytes: unit, failed: record.run.status == .error, line: line)
                    } else {
                        // The sample stays out when it is the one assigned and the coordinator has its
                        // bytes (not when this worker read it from the spool).
                        let bytes = try record.recordsFrameUnit(omittingSample: !item.byReference && record.run.sample == item.sample)
                        encoded = WorkerEncodedRecord(sampleId: record.sampleId, bytes: bytes, failed: record.run.status == .error)
                    }
                    let now = DispatchTime.now().uptimeNanoseconds
                    let waiter = self.lanes.withLock { lanes in
                        lanes.machine.collect(encoded, now: now) ? lanes.wakeFlusher() : nil
                    }
                    waiter?.resume()
                } catch {
                    await self.fail(ChatbotTesterError(.internal, "cannot encode the record of '\(record.sampleId)': \(error)"))
                }
            }
            return nil
        } catch {
            return error
        }
    }

    /// The processor, waiting for it to be built; `nil` when building failed.
    private nonisolated func readyProcessor() async -> (any ShardProcessor)? {
        let (ready, building) = lanes.withLock { ($0.processor, $0.building) }
        if let ready { return ready }
        let built = await building?.value
        if let built { lanes.withLock { $0.processor = built } }
        return built
    }

    private nonisolated func flushWhileRunning() async {
        while !Task.isCancelled {
            let now = DispatchTime.now().uptimeNanoseconds
            switch lanes.withLock({ $0.flusherStep(now: now) }) {
            case .stop:
                return
            case .send(let frame, let handBack):
                await send(frame)
                if let handBack { await handBackQueue(handBack) }
            case .sleep(let until):
                try? await Task.sleep(nanoseconds: until - now)
            case .park:
                await withCheckedContinuation { (waiter: ParkingSlot.Waiter) in
                    lanes.withLock { $0.parkFlusher(waiter) }?.resume()
                }
            }
        }
    }
}
