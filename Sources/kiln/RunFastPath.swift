import KilnCommandLine

/// The defaults of `kiln run`'s (and `kiln create`'s) options with one: the ArgumentParser
/// declarations and RunFastPath both take them from here.
enum RunDefaults {
    static let cpus = 1
    static let memory = 256
    static let bootTimeout: Double = 120
    static let jailUid: UInt32 = 65534
    static let tlsVerify = true
}

/// `kiln run ...` written plainly, read without ArgumentParser (Kiln.runIfPlain). ArgumentParser
/// builds `Run`'s argument set by reflection three times per parse (README, images): about half of
/// the host-side time `kiln run` spends outside its own timing in the nested harness. Every option
/// is one entry here, applied by name; `RunCommandLine.options` (KilnCommandLine) is their names
/// and arities, which KilnTests check against ArgumentParser's own definition of `run`, so an
/// option `Run` gains fails the tests until it is listed. An option listed there without an entry
/// here makes the fast path decline (ArgumentParser then parses), so no property of a `Run` it
/// returns is left unset: ArgumentParser's wrappers trap when one that was never set is read.
enum RunFastPath {
    /// Sets one option's property of `run` from the line (its value, or the default when the
    /// line has none); false when the value needs ArgumentParser's conversion error.
    typealias Apply = @Sendable (inout Run, QuickCommandLine) -> Bool

    static let entries: [(name: String, apply: Apply)] = [
        ("--cpus", { run, line in number(line, "--cpus", RunDefaults.cpus, Int.init).map { run.vm.cpus = $0 } != nil }),
        ("--memory", { run, line in number(line, "--memory", RunDefaults.memory, Int.init).map { run.vm.memory = $0 } != nil }),
        ("--rootfs", { run, line in run.vm.rootfs = line.value("--rootfs"); return true }),
        ("--kernel", { run, line in run.vm.kernel = line.value("--kernel"); return true }),
        ("--agent-initrd", { run, line in run.vm.agentInitrd = line.value("--agent-initrd"); return true }),
        ("--disk-size", { run, line in run.vm.diskSize = line.value("--disk-size"); return true }),
        ("--net", { run, line in run.vm.net = line.flag("--net"); return true }),
        ("--volume", { run, line in run.vm.volumes = line.values("--volume"); return true }),
        ("--boot-timeout", { run, line in
            number(line, "--boot-timeout", RunDefaults.bootTimeout, Double.init).map { run.vm.bootTimeout = $0 } != nil }),
        ("--no-seccomp", { run, line in run.vm.noSeccomp = line.flag("--no-seccomp"); return true }),
        ("--no-jail", { run, line in run.vm.jail.noJail = line.flag("--no-jail"); return true }),
        ("--jail-uid", { run, line in
            number(line, "--jail-uid", RunDefaults.jailUid, UInt32.init).map { run.vm.jail.jailUid = $0 } != nil }),
        ("--jail-gid", { run, line in optionalNumber(line, "--jail-gid", UInt32.init).map { run.vm.jail.jailGid = $0 } != nil }),
        ("--timeout", { run, line in optionalNumber(line, "--timeout", UInt32.init).map { run.timeout = $0 } != nil }),
        ("--report-timing", { run, line in run.reportTiming = line.flag("--report-timing"); return true }),
        ("--env", { run, line in run.sandbox.env = line.values("--env"); return true }),
        ("--workdir", { run, line in run.sandbox.workdir = line.value("--workdir"); return true }),
        ("--user", { run, line in run.sandbox.user = line.value("--user"); return true }),
        ("--copy-in", { run, line in run.sandbox.copyIn = line.values("--copy-in"); return true }),
        ("--copy-out", { run, line in run.sandbox.copyOut = line.values("--copy-out"); return true }),
        ("--image", { run, line in run.imageOptions.image = line.value("--image"); return true }),
        ("--entrypoint", { run, line in run.imageOptions.entrypoint = line.value("--entrypoint"); return true }),
        ("--tls-verify", { run, line in
            number(line, "--tls-verify", RunDefaults.tlsVerify, Bool.init).map { run.imageOptions.tlsVerify = $0 } != nil }),
        ("--from", { run, line in run.from = line.value("--from"); return true }),
    ]

    /// The run `arguments` (after `run`) describe, or nil: not a plain spelling, a value that is
    /// not a number, or an option without an entry.
    static func run(_ arguments: ArraySlice<String>) -> Run? {
        let (options, command) = QuickCommandLine.splitAtTerminator(arguments)
        guard let line = QuickCommandLine(options, options: RunCommandLine.options) else { return nil }
        // Assigned outside an initializer: inside one, assigning a wrapped property re-creates
        // its wrapper as a definition (seen with `reportTiming`), which traps when read.
        var run = Run()
        run.vm = VMOptions()
        run.vm.jail = JailOptions()
        run.sandbox = SandboxOptions()
        run.imageOptions = ImageOptions()
        run.sandbox.command = command
        for option in RunCommandLine.options {
            guard let entry = entries.first(where: { $0.name == option.name }), entry.apply(&run, line) else { return nil }
        }
        return run
    }

    /// The option's value converted as ArgumentParser converts it (LosslessStringConvertible), or
    /// the default; nil when it does not convert.
    private static func number<T>(_ line: QuickCommandLine, _ name: String, _ fallback: T, _ convert: (String) -> T?) -> T? {
        guard let text = line.value(name) else { return fallback }
        return convert(text)
    }

    /// As `number`, for an option without a default: .some(nil) when absent.
    private static func optionalNumber<T>(_ line: QuickCommandLine, _ name: String, _ convert: (String) -> T?) -> T?? {
        guard let text = line.value(name) else { return .some(nil) }
        return convert(text).map { .some($0) }
    }
}
