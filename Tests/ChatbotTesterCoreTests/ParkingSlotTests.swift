import ChatbotTesterCore
import Testing

/// `ParkingSlot`: one task parked until woken, inside the caller's locked state; a wake before
/// the park is kept, wakes while none is parked are coalesced, cancellation is the caller's.
@Suite struct ParkingSlotTests {
    /// Parks in `slot`; returns whether the park handed the continuation straight back (a wake was
    /// pending). A park that would wait is undone at once, so a wrong slot fails the test rather
    /// than hanging it.
    static func parkReturnsAtOnce(_ slot: Locked<ParkingSlot>) async -> Bool {
        let atOnce = Locked(false)
        await withCheckedContinuation { (waiter: ParkingSlot.Waiter) in
            let resume = slot.withLock { s -> ParkingSlot.Waiter? in
                if let back = s.park(waiter) {
                    atOnce.withLock { $0 = true }
                    return back
                }
                return s.wake()
            }
            resume?.resume()
        }
        return atOnce.current
    }

    /// Waits (yielding) until a task is parked in `slot`.
    static func untilParked(_ slot: Locked<ParkingSlot>) async {
        while !slot.withLock({ $0.isParked }) { await Task.yield() }
    }

    @Test func aParkWithNoWakeWaits() async {
        let slot = Locked(ParkingSlot())
        #expect(await !Self.parkReturnsAtOnce(slot))
        #expect(!slot.current.isParked)
    }

    @Test func aWakeBeforeTheParkIsNotLost() async {
        let slot = Locked(ParkingSlot())
        #expect(slot.withLock { $0.wake() } == nil)
        #expect(slot.current.hasPendingWake)
        #expect(await Self.parkReturnsAtOnce(slot))
        // The wake is used up by that park.
        #expect(!slot.current.hasPendingWake)
        #expect(await !Self.parkReturnsAtOnce(slot))
    }

    @Test func wakesWhileNoneIsParkedAreCoalesced() async {
        let slot = Locked(ParkingSlot())
        for _ in 0..<3 { #expect(slot.withLock { $0.wake() } == nil) }
        #expect(await Self.parkReturnsAtOnce(slot))
        #expect(await !Self.parkReturnsAtOnce(slot))
    }

    @Test func consumeWakeForgetsAPendingWake() async {
        let slot = Locked(ParkingSlot())
        _ = slot.withLock { $0.wake() }
        slot.withLock { $0.consumeWake() }
        #expect(!slot.current.hasPendingWake)
        #expect(await !Self.parkReturnsAtOnce(slot))
    }

    @Test func aWakeResumesTheParkedTaskAndLeavesNoWakePending() async {
        let slot = Locked(ParkingSlot())
        let parked = Task {
            await withCheckedContinuation { (waiter: ParkingSlot.Waiter) in
                slot.withLock { $0.park(waiter) }?.resume()
            }
        }
        await Self.untilParked(slot)
        let waiter = slot.withLock { $0.wake() }
        #expect(waiter != nil)
        #expect(!slot.current.isParked)
        #expect(!slot.current.hasPendingWake)
        waiter?.resume()
        await parked.value
    }

    /// The slot does not watch for cancellation; a caller wakes it from its cancellation handler,
    /// and a cancel that comes before the park is then a pending wake.
    @Test(arguments: [false, true])
    func aCancellationHandlerThatWakesReturnsTheTask(cancelBeforeParking: Bool) async {
        let slot = Locked(ParkingSlot())
        let task = Task {
            if cancelBeforeParking { withUnsafeCurrentTask { $0?.cancel() } }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (waiter: ParkingSlot.Waiter) in
                    slot.withLock { $0.park(waiter) }?.resume()
                }
            } onCancel: {
                slot.withLock { $0.wake() }?.resume()
            }
            return Task.isCancelled
        }
        if !cancelBeforeParking {
            await Self.untilParked(slot)
            task.cancel()
        }
        #expect(await task.value)
        #expect(!slot.current.isParked)
    }

    /// Many producers, one consumer parked between batches (the pattern of the doc comment): no
    /// item is lost and the consumer is never left parked with items queued.
    @Test func manyProducersOneParkedConsumerLoseNoWake() async {
        struct State {
            var queue: [Int] = []
            var consumer = ParkingSlot()
        }
        let state = Locked(State())
        let producers = 8
        let perProducer = 2_000
        await withTaskGroup(of: Void.self) { group in
            for producer in 0..<producers {
                group.addTask {
                    for item in 0..<perProducer {
                        state.withLock { s -> ParkingSlot.Waiter? in
                            s.queue.append(producer * perProducer + item)
                            return s.consumer.wake()
                        }?.resume()
                        if item % 64 == 0 { await Task.yield() }
                    }
                }
            }
            group.addTask {
                var seen = Set<Int>()
                while seen.count < producers * perProducer {
                    let batch = state.withLock { s -> [Int] in
                        defer {
                            s.queue.removeAll()
                            s.consumer.consumeWake()
                        }
                        return s.queue
                    }
                    if !batch.isEmpty {
                        seen.formUnion(batch)
                        continue
                    }
                    await withCheckedContinuation { (waiter: ParkingSlot.Waiter) in
                        state.withLock { $0.queue.isEmpty ? $0.consumer.park(waiter) : waiter }?.resume()
                    }
                }
                #expect(seen.count == producers * perProducer)
            }
        }
        #expect(!state.current.consumer.isParked)
    }
}
