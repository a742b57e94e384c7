/// How an option takes values.
public enum OptionArity: Sendable, Equatable {
    /// Present or not (`--no-stdin`).
    case flag
    /// One value, in the next argument (`--kernel PATH`).
    case single
    /// One value per occurrence, in order (`--drive A --drive B`).
    case repeating
}

/// One option a command takes: its long name, with the dashes, and how it takes values.
public struct OptionSpec: Sendable, Equatable {
    public let name: String
    public let arity: OptionArity

    public init(_ name: String, _ arity: OptionArity) {
        self.name = name
        self.arity = arity
    }
}

/// A command line read without swift-argument-parser, for the start of a VMM process, where
/// ArgumentParser's reflection cost more than the rest of kiln's start-up together (README,
/// "Start-up"). It only takes the plainest spelling of the options it is given: `--name VALUE`
/// and `--name`, each single-valued option and flag at most once, no empty value nor one that
/// begins with `-`, no `--name=VALUE`, no `--`, nothing unknown. Anything else makes it
/// decline (nil), and the caller hands the command line to ArgumentParser, which then parses
/// it, prints help or names the error: on what this accepts, both agree (KilnTests check the
/// option lists against ArgumentParser's own definition of the commands).
/// Arrays, not dictionaries: a Dictionary or Set of a type the runtime has not seen yet costs a
/// scan of every protocol conformance in the binary (about 0.3 M instructions) on first use.
public struct QuickCommandLine: Sendable, Equatable {
    private struct Given: Sendable, Equatable {
        let name: String
        let value: String?
    }

    private var given: [Given] = []

    public init?(_ arguments: ArraySlice<String>, options: [OptionSpec]) {
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let name = arguments[index]
            index += 1
            guard let option = options.first(where: { $0.name == name }) else { return nil }
            if option.arity != .repeating && given.contains(where: { $0.name == name }) { return nil }
            switch option.arity {
            case .flag:
                given.append(Given(name: name, value: nil))
            case .single, .repeating:
                guard index < arguments.endIndex else { return nil }
                let value = arguments[index]
                index += 1
                guard !value.isEmpty, !value.hasPrefix("-") else { return nil }
                given.append(Given(name: name, value: value))
            }
        }
    }

    /// The arguments before the first `--`, and those after it (empty without one), as
    /// ArgumentParser splits them for a post-terminator argument.
    public static func splitAtTerminator(_ arguments: ArraySlice<String>) -> (options: ArraySlice<String>, rest: [String]) {
        guard let terminator = arguments.firstIndex(of: "--") else { return (arguments, []) }
        return (arguments[..<terminator], Array(arguments[(terminator + 1)...]))
    }

    /// The value of a single-valued option, if given.
    public func value(_ name: String) -> String? { given.first { $0.name == name }?.value }

    /// Every value of a repeatable option, in command-line order.
    public func values(_ name: String) -> [String] { given.filter { $0.name == name }.compactMap(\.value) }

    public func flag(_ name: String) -> Bool { given.contains { $0.name == name } }
}

/// The options of the two command lines that start a VMM: `kiln boot ...` and `kiln` with
/// `--api-sock`, `--config-file` or `--restore`. They mirror the ArgumentParser declarations
/// of `Boot` and `Kiln` (Sources/kiln), which stay the definition; KilnTests fail when the two
/// differ.
public enum VMMCommandLine {
    public static let boot: [OptionSpec] = [
        OptionSpec("--kernel", .single), OptionSpec("--initrd", .single), OptionSpec("--cmdline", .single),
        OptionSpec("--cpus", .single), OptionSpec("--memory", .single), OptionSpec("--serial-output", .single),
        OptionSpec("--serial-output-limit", .single), OptionSpec("--no-stdin", .flag), OptionSpec("--drive", .repeating),
        OptionSpec("--entropy", .flag), OptionSpec("--net", .repeating), OptionSpec("--vsock", .single),
        OptionSpec("--share", .repeating), OptionSpec("--no-acpi", .flag), OptionSpec("--no-seccomp", .flag),
        OptionSpec("--die-with-parent", .single), OptionSpec("--control-sock", .single),
    ]

    public static let root: [OptionSpec] = [
        OptionSpec("--api-sock", .single), OptionSpec("--config-file", .single), OptionSpec("--no-api", .flag),
        OptionSpec("--restore", .single), OptionSpec("--restore-memory", .single), OptionSpec("--resume", .flag),
        OptionSpec("--id", .single), OptionSpec("--no-seccomp", .flag), OptionSpec("--restore-vsock", .single),
        OptionSpec("--exit-with-parent", .single),
    ]
}
