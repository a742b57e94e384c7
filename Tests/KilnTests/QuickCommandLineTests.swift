import Foundation
import KilnCommandLine
import Testing

/// The start-up fast path reads `kiln boot` and `kiln --api-sock ...` without ArgumentParser.
/// Its option lists must be exactly ArgumentParser's definition of those commands (read from
/// the built binary's `--experimental-dump-help`), and it must decline every spelling it does
/// not take, so that ArgumentParser handles (or rejects) those.
@Suite struct QuickCommandLineTests {
    /// (long name, arity) of every option ArgumentParser defines for `kiln ARGUMENTS` (or
    /// `binary ARGUMENTS`), without its built-in --help and --version, nor positional arguments.
    static func argumentParserOptions(_ arguments: [String], binary: String = KilnProcess.binary) throws -> [OptionSpec] {
        let result = try KilnProcess.execute(binary, arguments + ["--experimental-dump-help"], timeout: 60)
        #expect(result.status == 0, "\(result)")
        let root = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let command = try #require(root?["command"] as? [String: Any])
        let definitions = try #require(command["arguments"] as? [[String: Any]])
        var options: [OptionSpec] = []
        for definition in definitions {
            let names = (definition["names"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            if names.contains("help") || names.contains("version") || definition["kind"] as? String == "positional" { continue }
            #expect(names.count == 1, "\(names): the fast path knows one long name per option")
            let kinds = (definition["names"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
            #expect(kinds == ["long"], "\(names): \(kinds)")
            let kind = definition["kind"] as? String
            #expect(kind == "flag" || kind == "option", "\(names): a \(kind ?? "?") argument")
            let arity: OptionArity = kind == "flag" ? .flag : (definition["isRepeating"] as? Bool == true ? .repeating : .single)
            options += names.map { OptionSpec("--" + $0, arity) }
        }
        return options
    }

    @Test func bootOptionsAreArgumentParsersBootOptions() throws {
        let definition = try Self.argumentParserOptions(["boot"])
        #expect(!definition.isEmpty)
        #expect(Set(definition.map(\.name)) == Set(VMMCommandLine.boot.map(\.name)))
        for option in definition {
            #expect(VMMCommandLine.boot.contains(option), "kiln boot \(option.name) is \(option.arity) in Boot")
        }
    }

    /// kiln-jailer (built next to kiln) reads kiln's plain line with JailerFastPath.
    @Test func jailerOptionsAreArgumentParsersJailerOptions() throws {
        let jailer = URL(fileURLWithPath: KilnProcess.binary).deletingLastPathComponent().appendingPathComponent("kiln-jailer").path
        let definition = try Self.argumentParserOptions([], binary: jailer)
        #expect(definition.count == JailerCommandLine.options.count)
        for option in definition {
            #expect(JailerCommandLine.options.contains(option), "kiln-jailer \(option.name) is \(option.arity) in JailerCommand")
        }
    }

    @Test func rootOptionsAreArgumentParsersRootOptions() throws {
        let definition = try Self.argumentParserOptions([])
        #expect(Set(definition.map(\.name)) == Set(VMMCommandLine.root.map(\.name)))
        for option in definition {
            #expect(VMMCommandLine.root.contains(option), "kiln \(option.name) is \(option.arity) in Kiln")
        }
    }

    /// `kiln run`: every option by its long name (`-v` is `--volume`'s short one, left to
    /// ArgumentParser), the command after `--` its one positional argument.
    @Test func runOptionsAreArgumentParsersRunOptions() throws {
        let result = try KilnProcess.run(["run", "--experimental-dump-help"])
        #expect(result.status == 0, "\(result)")
        let root = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let command = try #require(root?["command"] as? [String: Any])
        var definition: [OptionSpec] = []
        for argument in try #require(command["arguments"] as? [[String: Any]]) {
            let names = (argument["names"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "long" }
                .compactMap { $0["name"] as? String }
            if names.contains("help") || names.contains("version") { continue }
            let kind = argument["kind"] as? String
            if kind == "positional" { continue }
            #expect(names.count == 1, "\(names)")
            let arity: OptionArity = kind == "flag" ? .flag : (argument["isRepeating"] as? Bool == true ? .repeating : .single)
            definition += names.map { OptionSpec("--" + $0, arity) }
        }
        #expect(definition.count == RunCommandLine.options.count)
        #expect(Set(definition.map(\.name)) == Set(RunCommandLine.options.map(\.name)))
        for option in definition {
            #expect(RunCommandLine.options.contains(option), "kiln run \(option.name) is \(option.arity) in Run")
        }
    }

    @Test func runSplitsAtTheFirstTerminator() {
        let (options, command) = QuickCommandLine.splitAtTerminator(["--image", "x", "--", "sh", "-c", "--", "--"][...])
        #expect(Array(options) == ["--image", "x"] && command == ["sh", "-c", "--", "--"])
        let (all, none) = QuickCommandLine.splitAtTerminator(["--image", "x"][...])
        #expect(Array(all) == ["--image", "x"] && none.isEmpty)
    }

    /// Through the binary: the fast path's `kiln run` and ArgumentParser's (`--name=value`
    /// spellings, which the fast path declines) end alike, each option's checks included.
    @Test(arguments: [
        ["--kernel", "/nonexistent-kernel", "--rootfs", "/nonexistent-rootfs"],
        ["--timeout", "0"], ["--boot-timeout", "0"], ["--cpus", "0", "--rootfs", "/nonexistent-rootfs"],
        ["--memory", "abc"], ["--tls-verify", "maybe"], ["--jail-uid", "x"], ["--timeout", "1.5"],
        ["--env", "A=1", "--workdir", "/w", "--user", "1:2", "--copy-in", "/nonexistent-src:/dst", "--image", "oci:/nonexistent-layout",
         "--entrypoint", "/bin/e", "--tls-verify", "false", "--cpus", "2", "--memory", "64", "--disk-size", "1G", "--volume", "/a:/b",
         "--boot-timeout", "30", "--no-jail", "--jail-uid", "7", "--jail-gid", "8", "--timeout", "9", "--report-timing"],
    ])
    func runEndsAsArgumentParsersRun(options: [String]) throws {
        var spelled: [String] = []
        var index = 0
        while index < options.count {
            let name = options[index]
            let takesValue = RunCommandLine.options.first { $0.name == name }?.arity != .flag
            if takesValue && index + 1 < options.count {
                spelled.append(name + "=" + options[index + 1])
                index += 2
            } else {
                spelled.append(name)
                index += 1
            }
        }
        let quick = try KilnProcess.run(["run"] + options + ["--", "true"])
        let parsed = try KilnProcess.run(["run"] + spelled + ["--", "true"])
        #expect(quick.status == 125 && quick.status == parsed.status, "\(quick) \(parsed)")
        #expect(quick.stderr == parsed.stderr && !quick.stderr.isEmpty, "\(quick) \(parsed)")
    }

    static let options = [OptionSpec("--kernel", .single), OptionSpec("--drive", .repeating), OptionSpec("--no-stdin", .flag)]

    @Test func takesThePlainSpelling() throws {
        let line = try #require(QuickCommandLine(["--drive", "a", "--kernel", "k", "--no-stdin", "--drive", "b,ro"][...],
                                                 options: Self.options))
        #expect(line.value("--kernel") == "k")
        #expect(line.values("--drive") == ["a", "b,ro"])
        #expect(line.flag("--no-stdin"))
        let empty = try #require(QuickCommandLine([][...], options: Self.options))
        #expect(empty.value("--kernel") == nil && empty.values("--drive").isEmpty && !empty.flag("--no-stdin"))
    }

    @Test(arguments: [
        ["--kernel"],                          // value missing
        ["--kernel", "a", "--kernel", "b"],    // a single-valued option twice
        ["--no-stdin", "--no-stdin"],          // a flag twice
        ["--kernel=a"],                        // --name=value
        ["--kernel", "-a"],                    // a value that looks like an option
        ["--kernel", ""],                      // an empty value
        ["--kernel", "a", "--"],               // the terminator
        ["--kernel", "a", "extra"],            // a positional argument
        ["--kernel", "a", "--help"],           // help
        ["-h"], ["--version"], ["--unknown"],
    ])
    func declinesEverythingElse(arguments: [String]) {
        #expect(QuickCommandLine(arguments[...], options: Self.options) == nil, "\(arguments)")
    }

    /// Through the binary: what the fast path declines still gets ArgumentParser's answer.
    @Test func declinedCommandLinesGetArgumentParsersErrors() throws {
        let guest = try KilnProcess.guest("hello.elf")
        let notANumber = try KilnProcess.run(["boot", "--kernel", guest, "--memory", "abc"])
        #expect(notANumber.status == 64 && notANumber.stderr.contains("The value 'abc' is invalid for '--memory <MiB>'"),
                "\(notANumber)")
        let twice = try KilnProcess.run(["boot", "--kernel", guest, "--memory=64", "--no-stdin"], stdin: "")
        #expect(twice.status == 0 && twice.stdout.contains("hello from guest"), "\(twice)")
        let help = try KilnProcess.run(["boot", "--kernel", guest, "--help"])
        #expect(help.status == 0 && help.stdout.contains("USAGE: kiln boot"), "\(help)")
        // `kiln --version` alone is answered before ArgumentParser, with what it would print.
        let version = try KilnProcess.run(["--version"])
        let argumentParserVersion = try KilnProcess.run(["--version", "--id", "x"])
        #expect(version.status == 0 && !version.stdout.isEmpty && version.stdout == argumentParserVersion.stdout,
                "\(version) \(argumentParserVersion)")
        let nothing = try KilnProcess.run(["--id", "x"])
        #expect(nothing.status == 0 && nothing.stdout.contains("OVERVIEW: A microVM monitor"), "\(nothing)")
    }
}
