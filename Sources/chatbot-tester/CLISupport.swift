import ArgumentParser
import ChatbotTester
import Foundation

/// Exit codes promised to users' scripts.
enum ExitStatus {
    /// All thresholds pass.
    static let ok: Int32 = 0
    /// A threshold or test failed.
    static let failed: Int32 = 1
    /// Usage, config or input error.
    static let usage: Int32 = 2
    /// Run aborted (budget, interrupt, failure policy).
    static let aborted: Int32 = 3
}

/// Writes a line to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((SecretMasker.shared.mask(text) + "\n").utf8))
}

/// Runs a command body, turning library errors into a message on stderr and the promised exit code.
func withExitCodes(_ body: () async throws -> Int32) async throws {
    let status: Int32
    do {
        status = try await body()
    } catch let error as ChatbotTesterError {
        printError("error: \(error)")
        switch error.code {
        case .budgetExceeded, .cancelled, .aborted: throw ExitCode(ExitStatus.aborted)
        default: throw ExitCode(ExitStatus.usage)
        }
    } catch let error as ExitCode {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch is CancellationError {
        printError("interrupted")
        throw ExitCode(ExitStatus.aborted)
    } catch {
        printError("error: \(error)")
        throw ExitCode(ExitStatus.usage)
    }
    if status != ExitStatus.ok { throw ExitCode(status) }
}
