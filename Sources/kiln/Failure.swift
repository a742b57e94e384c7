import ArgumentParser
import Glibc
import Sandbox
import SandboxHost

/// Commands whose exit status is a guest command's (`kiln run`, `exec`, `agent-exec`) or that
/// share their setup (`kiln create`) or sessions with the agent (`kiln cp`, whose timeout is
/// 124 as theirs): their own failures exit 125, a status a command's own
/// exit cannot be mistaken for (as docker/podman run), usage errors included.
protocol SandboxCommand {}
extension Run: SandboxCommand {}
extension Create: SandboxCommand {}
extension Exec: SandboxCommand {}
extension AgentExec: SandboxCommand {}
extension Cp: SandboxCommand {}
// Image commands share `kiln run --image`'s failures (a pull is its first step).
extension Pull: SandboxCommand {}
extension ImagesCommand: SandboxCommand {}
extension Rmi: SandboxCommand {}
extension ImageCommand: SandboxCommand {}
extension ImageCommand.Prune: SandboxCommand {}
extension ImageCommand.Tag: SandboxCommand {}
extension Setup: SandboxCommand {}
extension SnapshotCommand: SandboxCommand {}

enum FailureExit {
    static let sandboxStatus = CommandExitCode.kilnFailure
    static let sandboxCommandNames: Set<String> = ["run", "create", "exec", "agent-exec", "cp", "pull", "images", "rmi", "image", "setup", "snapshot"]

    /// The status `fail` exits with: set once in `Kiln.main` before any command runs.
    nonisolated(unsafe) static var status: Int32 = 1

    /// Whether the command line names a sandbox command, for errors before parsing ends.
    static func namesSandboxCommand(_ arguments: ArraySlice<String>) -> Bool {
        arguments.first { !$0.hasPrefix("-") }.map(sandboxCommandNames.contains) ?? false
    }
}

/// Prints one line to standard error.
func printError(_ message: String) {
    var line = message + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

/// One line on standard error, then exit: 125 from a sandbox command, 1 from the others.
func fail(_ message: String) -> Never {
    printError("kiln: error: \(message)")
    exit(FailureExit.status)
}

func warn(_ error: SandboxHostError) {
    printError("kiln: warning: \(error); left for `kiln gc`")
}
