import ChatbotTesterCore
import Foundation
import Testing

/// Known vectors and properties of Core's building blocks (hashes, RNG, histograms, exact sums).
@Suite struct BuildingBlocksTests {
    @Test func fnv1aMatchesPublishedVectors() {
        #expect(FNV1a64().hex == "cbf29ce484222325")
        #expect(FNV1a64.hash("a".utf8) == 0xaf63_dc4c_8601_ec8c)
        var hasher = FNV1a64()
        hasher.add("foo")
        hasher.add("bar")
        #expect(hasher.hex == "85944171f73967e8")
    }

    @Test func fnv1aFieldsAreSeparated() {
        var left = FNV1a64()
        left.combine("ab")
        left.combine("c")
        var right = FNV1a64()
        right.combine("a")
        right.combine("bc")
        #expect(left != right)
    }

    @Test func seededGeneratorIsSplitMix64() {
        var random = SeededGenerator(seed: 0)
        #expect(random.next() == 0xe220_a839_7b1d_cdaf)
        var a = SeededGenerator(seed: 42, labels: ["sample-1", "typo"])
        var b = SeededGenerator(seed: 42, labels: ["sample-1", "typo"])
        #expect((0..<16).map { _ in a.next() } == (0..<16).map { _ in b.next() })
    }

    /// The response cache key is SHA-256 over the same bytes as before swift-crypto (computed
    /// independently with Python's hashlib), so existing caches keep hitting.
    @Test func cacheKeysAreUnchanged() {
        let key = ResponseCache.key(identityText: #"{"model":"m"}"#, kind: "chat", canonicalRequest: Data(#"{"messages":[]}"#.utf8))
        #expect(key == "c15d1ea9e58be60b5445e5adb4d15c2b03020faa0d392e387e8f7c214f4e7f9e")
        #expect(SHA256Hasher.hex(#"{"input":"How do I return my phone?"}"#).prefix(12) == "65eedd4c0de5")
    }

    @Test func hexDigitsArePadded() {
        #expect(HexDigits.lowercase(UInt64(0xab)) == "00000000000000ab")
        #expect(HexDigits.lowercase([0x00, 0xff, 0x10]) == "00ff10")
    }

    @Test func exactSumIsExactAndClampsHostileValues() {
        var sum = ExactSum()
        sum.add(0.1)
        sum.add(0.2)
        #expect(sum.value == 0.3)
        sum.add(.nan)
        sum.add(.infinity)
        #expect(sum.value == 0.3)
        var huge = ExactSum()
        huge.add(1e300)  // clamped, no trap
        #expect(huge.units == 9_200_000_000_000_000_000)
        var micro = ExactSum(unitsPerOne: 1_000)
        micro.add(1.2345)
        #expect(micro.units == 1235)
        #expect(ExactSum(value: 0.3) == sum)
    }

    @Test func histogramShardsMergeExactlyInAnyOrder() {
        var random = SeededGenerator(seed: 9)
        let values = (0..<5000).map { _ in random.unit() * 2000 }
        for layout in [MergeableHistogram.Layout.unitInterval(steps: 1000), .logarithmic(stepsPerOctave: 32)] {
            var whole = MergeableHistogram(layout)
            for value in values { whole.add(value) }
            for round in 0..<5 {
                var shards = (0..<(round + 2)).map { _ in MergeableHistogram(layout) }
                for value in random.shuffle(values) { shards[random.int(below: shards.count)].add(value) }
                var merged = MergeableHistogram(layout)
                for shard in random.shuffle(shards) { merged.merge(shard) }
                #expect(merged == whole)
            }
            #expect(whole.total == values.count)
        }
    }

    @Test("BlockingIO.inLanes runs every index once, in order within a lane, the lanes at once")
    func blockingLanes() {
        let seen = Locked<[Int: [Int]]>([:])
        BlockingIO.inLanes(10, lanes: 3, label: "test.lanes") { index in
            seen.withLock { $0[index % 3, default: []].append(index) }
        }
        #expect(seen.current == [0: [0, 3, 6, 9], 1: [1, 4, 7], 2: [2, 5, 8]])
        // Two lanes that each wait for the other: they finish only if they run at the same time.
        let arrived = (DispatchSemaphore(value: 0), DispatchSemaphore(value: 0))
        let met = Locked(0)
        BlockingIO.inLanes(2, lanes: 2, label: "test.lanes") { index in
            (index == 0 ? arrived.0 : arrived.1).signal()
            if (index == 0 ? arrived.1 : arrived.0).wait(timeout: .now() + 10) == .success { met.withLock { $0 += 1 } }
        }
        #expect(met.current == 2)
        BlockingIO.inLanes(0, lanes: 4, label: "test.lanes") { _ in Issue.record("no index to run") }
    }

    @Test func histogramQuantiles() {
        var scores = MergeableHistogram(.unitInterval(steps: 1000))
        for i in 1...100 { scores.add(Double(i) / 100) }
        #expect(scores.quantile(0.5) == 0.5)
        #expect(scores.quantile(1) == 1)
        var log = MergeableHistogram(.logarithmic(stepsPerOctave: 32))
        log.add(0)
        log.add(100)
        #expect(log.quantile(0.5) == 0)
        #expect(abs(log.quantile(1)! - 100) / 100 < 0.025)
        #expect(MergeableHistogram(.unitInterval(steps: 10)).quantile(0.5) == nil)
    }
}

/// `RunStatistics` sums are exact: any order, any split into shards, same bits.
@Suite struct RunStatisticsTests {
    /// Records with awkward costs and latencies (values whose `Double` sums depend on the order).
    static func records(count: Int, seed: UInt64) -> [RunRecord] {
        var random = SeededGenerator(seed: seed)
        return (0..<count).map { index in
            let turns = (0..<(1 + random.int(below: 3))).map { turn in
                TurnRecord(index: turn, latencyMs: random.unit() * 3000 + 0.1)
            }
            let failed = random.chance(0.1)
            return RunRecord(
                sample: TestSample(id: "s\(index)", input: "hi"), target: "bot", status: failed ? .error : .ok, turns: turns,
                usage: Usage(promptTokens: random.int(below: 500), completionTokens: random.int(below: 200)),
                costUSD: random.chance(0.9) ? random.unit() * 0.01 + 0.000_000_1 : nil,
                latencyMs: turns.reduce(0) { $0 + $1.latencyMs }, attempts: 1 + random.int(below: 2),
                error: failed ? ErrorInfo(code: random.chance(0.5) ? "timeout" : "http_status", message: "x") : nil)
        }
    }

    static func encoded(_ statistics: RunStatistics) throws -> Data {
        try JSONCoding.encoder().encode(statistics)
    }

    @Test func anyOrderAndAnyShardingGiveBitIdenticalStatistics() throws {
        let records = Self.records(count: 2000, seed: 3)
        var reference = RunStatistics()
        for record in records { reference.add(record) }
        let referenceBytes = try Self.encoded(reference)
        var random = SeededGenerator(seed: 11)
        var naiveSums = Set<Double>()
        for round in 0..<20 {
            let order = random.shuffle(records)
            naiveSums.insert(order.reduce(0) { $0 + ($1.costUSD ?? 0) })
            var shards = (0..<(1 + round % 7)).map { _ in RunStatistics() }
            for record in order { shards[random.int(below: shards.count)].add(record) }
            var merged = RunStatistics()
            for shard in random.shuffle(shards) { merged.merge(shard) }
            #expect(merged == reference)
            #expect(try Self.encoded(merged) == referenceBytes)
            #expect(merged.costUSD.bitPattern == reference.costUSD.bitPattern)
            #expect(merged.latency.meanMs?.bitPattern == reference.latency.meanMs?.bitPattern)
        }
        // The data is order-sensitive for plain `Double` sums: what the exact sums protect against.
        #expect(naiveSums.count > 1)
        #expect(reference.recorded == 2000)
    }

    /// A decoded record and its facts read another way (as the coordinator scans them from bytes,
    /// turn latencies in an array) fold through the one `add(_: RunRecordFacts)`: same statistics.
    @Test func recordsAndTheirFactsGiveTheSameStatistics() throws {
        var records = Self.records(count: 300, seed: 7)
        var simulated = records[0]
        simulated.sample.scenario = Scenario(persona: "p", goal: "g")
        simulated.stopReason = "gave_up"
        var scripted = records[1]
        scripted.stopReason = "max_steps"  // counted only for simulated conversations
        var noCode = records[2]
        noCode.status = .error
        noCode.error = nil
        records += [simulated, scripted, noCode]
        var fromRecords = RunStatistics()
        var fromFacts = RunStatistics()
        for record in records {
            fromRecords.add(record)
            fromFacts.add(
                RunRecordFacts(
                    status: record.status, error: record.error, usage: record.usage, simulatorUsage: record.simulatorUsage,
                    costUSD: record.costUSD, latencyMs: record.latencyMs, attempts: record.attempts,
                    turnLatencies: record.turns.map(\.latencyMs), stopReason: record.stopReason, simulated: record.sample.scenario != nil))
        }
        #expect(fromFacts == fromRecords)
        #expect(try Self.encoded(fromFacts) == Self.encoded(fromRecords))
        #expect(fromRecords.stopReasons == ["gave_up": 1])
        #expect(fromRecords.errorsByCode["unknown"] == 1)
        #expect(fromRecords.turns == records.reduce(0) { $0 + $1.turns.count })
    }

    @Test func jsonShapeIsStableAndRoundTrips() throws {
        var statistics = RunStatistics()
        for record in Self.records(count: 50, seed: 5) { statistics.add(record) }
        let data = try Self.encoded(statistics)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(object.keys) == [
            "ok", "error", "usage", "simulatorUsage", "costUSD", "priced", "turns", "attempts", "latency", "turnLatency", "errorsByCode",
            "stopReasons",
        ])
        // A run-summary written before `priced` existed still reads.
        var older = object
        older["priced"] = nil
        let decoded = try JSONCoding.decoder().decode(RunStatistics.self, from: JSONSerialization.data(withJSONObject: older))
        #expect(decoded.recorded == statistics.recorded && decoded.costUSD == statistics.costUSD)
        #expect(object["costUSD"] is Double)
        let latency = try #require(object["latency"] as? [String: Any])
        #expect(Set(latency.keys) == ["buckets", "count", "sumMs", "minMs", "maxMs"])
        let back = try JSONCoding.decoder().decode(RunStatistics.self, from: data)
        #expect(back == statistics)
        #expect(try Self.encoded(back) == data)
    }
    /// The histogram counts most buckets in an array and the rest (zero, far out, decoded indexes)
    /// in a dictionary: what it reports — counts, sorted counts, quantiles, equality and hash — is
    /// that of a plain bucket → count map, whichever way the counts came in.
    @Test func histogramCountsAreThoseOfABucketMap() {
        var generator = SeededGenerator(seed: 41)
        for layout in [MergeableHistogram.Layout.unitInterval(steps: 1000), .logarithmic(stepsPerOctave: 70), .logarithmic(stepsPerOctave: 32)] {
            var histogram = MergeableHistogram(layout)
            var reference: [Int: Int] = [:]
            for _ in 0..<3000 {
                let value: Double
                switch Int.random(in: 0..<6, using: &generator) {
                case 0: value = 0
                case 1: value = Double.random(in: 1e-9...1e-3, using: &generator)
                case 2: value = Double.random(in: 1e7...1e12, using: &generator)
                case 3: value = -Double.random(in: 0...5, using: &generator)
                default: value = Double.random(in: 0...2000, using: &generator)
                }
                histogram.add(value)
                reference[histogram.bucket(of: value), default: 0] += 1
            }
            // Stored histograms come back bucket by bucket, any index.
            for bucket in [-5_000_000, MergeableHistogram.zeroBucket, -1, 0, 1, 2_000_000] {
                histogram.add(bucket: bucket, count: 3)
                reference[bucket, default: 0] += 3
            }
            #expect(histogram.counts == reference)
            #expect(histogram.total == reference.values.reduce(0, +))
            #expect(histogram.sortedCounts.map(\.bucket) == reference.keys.sorted())
            var rebuilt = MergeableHistogram(layout)
            for (bucket, count) in reference.sorted(by: { $0.key > $1.key }) { rebuilt.add(bucket: bucket, count: count) }
            #expect(rebuilt == histogram && rebuilt.hashValue == histogram.hashValue)
            for q in [0.0, 0.01, 0.5, 0.9, 0.99, 1] {
                let rank = histogram.rank(ofQuantile: q)
                var seen = 0
                let expected = reference.keys.sorted().first { seen += reference[$0]!; return seen >= rank }
                #expect(histogram.bucket(ofQuantile: q) == expected)
            }
            rebuilt.add(bucket: 5, count: 1)
            #expect(rebuilt != histogram)
        }
    }
}
