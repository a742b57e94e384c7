import Foundation

/// How a program run by a test ended, with everything it wrote.
public struct ChildProcessResult: Sendable, CustomStringConvertible {
    public let reason: Process.TerminationReason
    public let status: Int32
    public let stdout: String
    public let stderr: String

    public var lines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) }

    public var description: String {
        "\(reason == .exit ? "exit" : "signal") \(status); stdout: \(stdout); stderr: \(stderr)"
    }
}

/// A program that did not end within its time limit (it has been killed).
public struct ChildProcessTimeout: Error, CustomStringConvertible {
    public let description: String
}

/// Runs programs to completion for the test targets (kiln, kiln-jailer, seccomp-probe, make).
/// Test code only: it uses Foundation, which the VMM process does not link.
public enum ChildProcess {
    /// Runs `executable` with `arguments`, `stdin` as its input (empty when nil) and `environment`
    /// added to the test's own; both pipes are drained at once so a chatty child never blocks.
    public static func run(_ executable: String, _ arguments: [String], stdin: String? = nil,
                           timeout: TimeInterval = 30, environment: [String: String] = [:]) throws -> ChildProcessResult {
        let process = Process()
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()

        nonisolated(unsafe) var outData = Data(), errData = Data()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        if group.wait(timeout: .now() + timeout) == .timedOut {
            // Only while it runs: once reaped, its pid may be any process's, or a thread's of
            // this one (kill on a thread id ends its whole process).
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            throw ChildProcessTimeout(description: "\(executable) \(arguments.joined(separator: " ")) timed out after \(timeout) s")
        }
        process.waitUntilExit()
        return ChildProcessResult(reason: process.terminationReason, status: process.terminationStatus,
                                  stdout: String(decoding: outData, as: UTF8.self),
                                  stderr: String(decoding: errData, as: UTF8.self))
    }
}
