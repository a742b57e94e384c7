/// kiln-jailer's options for QuickCommandLine. The jailer starts every jailed VMM, and
/// ArgumentParser's parse of its line (reflection over the command, the completion-script check)
/// was half of the jailer's own process on a host (README, images). They mirror `JailerCommand`
/// (Sources/kiln-jailer), which stays the definition; KilnTests fail when the two differ.
public enum JailerCommandLine {
    public static let options: [OptionSpec] = [
        OptionSpec("--id", .single), OptionSpec("--exec-file", .single), OptionSpec("--uid", .single),
        OptionSpec("--gid", .single), OptionSpec("--chroot-base-dir", .single), OptionSpec("--netns", .single),
        OptionSpec("--daemonize", .flag), OptionSpec("--new-pid-ns", .flag), OptionSpec("--cgroup-version", .single),
        OptionSpec("--cgroup", .repeating), OptionSpec("--parent-cgroup", .single), OptionSpec("--resource-limit", .repeating),
        OptionSpec("--copy-in", .repeating), OptionSpec("--bind-in", .repeating), OptionSpec("--bind-in-dir", .repeating),
        OptionSpec("--allow-root", .flag), OptionSpec("--keep-dac-read-search", .flag),
    ]
}
