/// `kiln run`'s options for QuickCommandLine. ArgumentParser's parse of `run` (the reflection
/// over its four option groups, each generic type's conformance lookups) was most of the
/// process's own work before the run began: about 8 ms on a host, scaled many times over in
/// the nested test harness's emulated CPU. They mirror `Run` and its option groups (Sources/kiln),
/// which stay the definition; KilnTests fail when the two differ. `-v` is left to ArgumentParser:
/// the fast path takes the long name `--volume` only.
public enum RunCommandLine {
    public static let options: [OptionSpec] = [
        OptionSpec("--cpus", .single), OptionSpec("--memory", .single), OptionSpec("--rootfs", .single),
        OptionSpec("--kernel", .single), OptionSpec("--agent-initrd", .single), OptionSpec("--disk-size", .single),
        OptionSpec("--net", .flag), OptionSpec("--volume", .repeating), OptionSpec("--boot-timeout", .single),
        OptionSpec("--no-seccomp", .flag), OptionSpec("--no-jail", .flag), OptionSpec("--jail-uid", .single),
        OptionSpec("--jail-gid", .single), OptionSpec("--timeout", .single), OptionSpec("--report-timing", .flag),
        OptionSpec("--env", .repeating), OptionSpec("--workdir", .single), OptionSpec("--user", .single),
        OptionSpec("--copy-in", .repeating), OptionSpec("--copy-out", .repeating), OptionSpec("--image", .single),
        OptionSpec("--entrypoint", .single), OptionSpec("--tls-verify", .single), OptionSpec("--from", .single),
    ]
}
