import ArgumentParser
import Glibc
import OCIRuntime

/// `kiln-oci`: the runc command-line subset conmon/podman and containerd's runc shim call, each
/// container a kiln microVM. Global options come before the command, as with runc.
@main
struct KilnOCI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiln-oci",
        abstract: "An OCI runtime that runs each container in a kiln microVM (runc-compatible command line).",
        discussion: "See docs/oci-runtime.md. State lives under --root, one directory per container.",
        version: "kiln-oci version \(RuntimeVersion.string)\nspec: \(Features.ociVersionMax)",
        subcommands: [Create.self, Start.self, StateCommand.self, Kill.self, Delete.self, ExecCommand.self, Ps.self,
                      Pause.self, Resume.self, Update.self, FeaturesCommand.self, List.self, Relay.self])

    @Option(help: ArgumentHelp("Directory for container state (made 0700).", valueName: "dir"))
    var root: String = ContainerStore.defaultRoot

    @Option(help: ArgumentHelp("Append errors (and --debug records) to this file.", valueName: "file"))
    var log: String?

    @Option(help: ArgumentHelp("Log record format: text or json.", valueName: "text|json"))
    var logFormat: RuntimeLog.Format = .text

    @Flag(help: "Accepted for runc compatibility (a VM has no systemd cgroup of its own).")
    var systemdCgroup = false

    @Flag(help: "Write debug records to the log.")
    var debug = false

    @Option(help: ArgumentHelp("Accepted for runc compatibility.", valueName: "true|false|auto"))
    var rootless: String?

    var runtimeLog: RuntimeLog { RuntimeLog(path: log, format: logFormat) }
    var store: ContainerStore { ContainerStore(root: root) }

    /// ArgumentParser's parse, with every failure written as runc writes it: one error record
    /// in --log (found by scanning the arguments when parsing itself failed) and one line on
    /// stderr, exit 1. --help and --version exit 0 as usual.
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch let failure as OCIRuntimeError {
            Self.fail(failure.description, arguments: arguments)
        } catch let code as ExitCode {
            Glibc.exit(code.rawValue)
        } catch {
            let status = exitCode(for: error)
            if status == .success { exit(withError: error) }
            Self.fail(message(for: error), arguments: arguments)
        }
    }

    static func fail(_ message: String, arguments: [String]) -> Never {
        // One line: ArgumentParser puts alternatives ("or: ...") on lines of their own.
        let text = message.split(separator: "\n").map { $0.trimmingCharacters() }.joined(separator: "; ")
        GlobalScan(arguments).log.write(level: "error", text)
        var line = "kiln-oci: " + text + "\n"
        line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
        Glibc.exit(1)
    }
}

/// --log and --log-format read from raw arguments, for errors found before parsing succeeded.
struct GlobalScan {
    let log: RuntimeLog
    /// The other global options that take a value (in the next word unless given with '=').
    static let valueOptions: Set<String> = ["--root", "--rootless", "--criu"]

    init(_ arguments: [String]) {
        var path: String?
        var format = RuntimeLog.Format.text
        var index = 0
        while index < arguments.count {
            let word = arguments[index]
            func value(_ name: String) -> String? {
                if word == name, index + 1 < arguments.count { index += 1; return arguments[index] }
                if word.hasPrefix(name + "=") { return String(word.dropFirst(name.count + 1)) }
                return nil
            }
            if let v = value("--log") { path = v }
            else if let v = value("--log-format") { format = RuntimeLog.Format(rawValue: v) ?? format }
            else if Self.valueOptions.contains(word) { index += 1 }
            else if !word.hasPrefix("-") { break }   // the command: globals end there
            index += 1
        }
        log = RuntimeLog(path: path, format: format)
    }
}

extension RuntimeLog.Format: ExpressibleByArgument {}

/// Prints to standard output in one write (conmon reads some outputs whole).
func printOut(_ text: String) {
    var line = text.hasSuffix("\n") ? text : text + "\n"
    line.withUTF8 { buffer in
        var offset = 0
        while offset < buffer.count {
            let n = write(1, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            offset += n
        }
    }
}
