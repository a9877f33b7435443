/// When a run gives up because too many samples failed.
///
/// A failed sample is data: it is recorded (`status: error`) and counted whatever the policy says.
/// The policy only decides when to stop *starting* new samples; samples in flight still finish.
///
/// In a job config it is either the string `never` or an object:
/// ```yaml
/// failurePolicy: {maxFailures: 100, maxFailureRate: 0.2, minSamples: 20}
/// ```
/// Both limits may be given; the first one reached stops the run.
public struct FailurePolicy: Sendable, Hashable, Codable {
    /// Stop after this many failed samples (in this session).
    public var maxFailures: Int?
    /// Stop when failed / finished samples reaches this fraction, once `minSamples` have finished.
    public var maxFailureRate: Double?
    /// Samples that must finish before `maxFailureRate` is checked (default 20).
    public var minSamples: Int

    public init(maxFailures: Int? = nil, maxFailureRate: Double? = nil, minSamples: Int = 20) {
        self.maxFailures = maxFailures
        self.maxFailureRate = maxFailureRate
        self.minSamples = minSamples
    }

    /// Never stop because of failures (the default).
    public static let never = FailurePolicy()

    /// Whether the policy can ever stop a run.
    public var isNever: Bool { maxFailures == nil && maxFailureRate == nil }

    /// Whether a run with `failures` failed out of `finished` finished samples must stop.
    public func shouldAbort(failures: Int, finished: Int) -> Bool {
        if let maxFailures, failures >= maxFailures { return true }
        if let maxFailureRate, finished >= max(minSamples, 1), Double(failures) / Double(finished) >= maxFailureRate {
            return true
        }
        return false
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxFailures, maxFailureRate, minSamples
    }

    public init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer(), let word = try? single.decode(String.self) {
            guard word == "never" else {
                throw DecodingError.dataCorruptedError(
                    in: single, debugDescription: "expected 'never' or {maxFailures, maxFailureRate, minSamples}, got '\(word)'")
            }
            self = .never
            return
        }
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        maxFailures = try c.decodeIfPresent(Int.self, forKey: .maxFailures)
        maxFailureRate = try c.decodeIfPresent(Double.self, forKey: .maxFailureRate)
        minSamples = try c.decodeIfPresent(Int.self, forKey: .minSamples) ?? 20
        if let maxFailures, maxFailures < 1 {
            throw DecodingError.dataCorruptedError(forKey: .maxFailures, in: c, debugDescription: "maxFailures must be at least 1")
        }
        if let maxFailureRate, !(maxFailureRate > 0 && maxFailureRate <= 1) {
            throw DecodingError.dataCorruptedError(forKey: .maxFailureRate, in: c, debugDescription: "maxFailureRate must be in (0, 1]")
        }
        if minSamples < 0 {
            throw DecodingError.dataCorruptedError(forKey: .minSamples, in: c, debugDescription: "minSamples must not be negative")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        if isNever {
            var single = encoder.singleValueContainer()
            try single.encode("never")
            return
        }
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(maxFailures, forKey: .maxFailures)
        try c.encodeIfPresent(maxFailureRate, forKey: .maxFailureRate)
        try c.encode(minSamples, forKey: .minSamples)
    }
}
