import ChatbotTesterCore

/// A task executor that runs its jobs in order on one thread of its own, not on Swift's
/// cooperative pool (Core's ``ThreadTaskExecutor`` with one thread): for the parts of a test that
/// must keep moving while the rest of the suite keeps the pool busy — a test server, a task that
/// watches a child process's progress. On a two-core machine the whole suite at once has held
/// both threads of the pool for tens of seconds, and a watcher on the pool would look only after
/// the child had finished.
///
/// ```swift
/// let poller = Task(executorPreference: DedicatedThreadExecutor.watchers) { … }
/// ```
public typealias DedicatedThreadExecutor = ThreadTaskExecutor

extension ThreadTaskExecutor {
    /// The executor of the tests' loopback servers.
    public static let servers = ThreadTaskExecutor(name: "test-servers")
    /// The executor of tasks that watch what a test's child process does.
    public static let watchers = ThreadTaskExecutor(name: "test-watchers")
}
