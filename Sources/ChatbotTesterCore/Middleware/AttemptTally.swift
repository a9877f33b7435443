import Foundation

/// Counts the attempts the middleware makes for one call, including the attempts of a call that
/// finally failed (whose error carries no count).
///
/// ```swift
/// let tally = AttemptTally()
/// do {
///     _ = try await AttemptTally.$current.withValue(tally) { try await backend.send(request) }
/// } catch {
///     print("failed after \(tally.count) attempts")
/// }
/// ```
public final class AttemptTally: Sendable {
    /// The tally the middleware adds to, for the calls made in this task.
    @TaskLocal public static var current: AttemptTally?

    private let attempts = Locked(0)

    public init() {}

    /// Attempts made so far.
    public var count: Int { attempts.withLock { $0 } }

    /// Adds one attempt.
    public func add() {
        attempts.withLock { $0 += 1 }
    }
}
