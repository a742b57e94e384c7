/// `kiln-oci features`: what this runtime implements, in runtime-spec's features.md format
/// (as `runc features` prints it), so engines can ask instead of guessing.
public enum Features {
    public static let ociVersionMin = "1.0.0"
    public static let ociVersionMax = "1.2.0"
    /// Mount options kiln understands: read-only flags; every bind mount is read-only in the VM.
    public static let mountOptions = ["bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec", "relatime",
                                      "strictatime", "private", "rprivate", "slave", "rslave", "shared", "rshared",
                                      "mode", "size", "newinstance", "ptmxmode", "gid"]

    public static func document(version: String) -> JSONOutput {
        .object([
            ("ociVersionMin", .string(ociVersionMin)),
            ("ociVersionMax", .string(ociVersionMax)),
            // Hooks run in the runtime's namespaces, which a VM does not share: none are run.
            ("hooks", .array([])),
            ("mountOptions", .array(mountOptions.map(JSONOutput.string))),
            ("linux", .object([
                // Every namespace is the VM itself; `network` with a path is where the TAP goes.
                ("namespaces", .array(["cgroup", "ipc", "mount", "network", "pid", "user", "uts"].map(JSONOutput.string))),
                ("capabilities", .array([])),
                ("cgroup", .object([("v1", .bool(true)), ("v2", .bool(true)), ("systemd", .bool(false)),
                                    ("systemdUser", .bool(false)), ("rdma", .bool(false))])),
                ("seccomp", .object([("enabled", .bool(false))])),
                ("apparmor", .object([("enabled", .bool(false))])),
                ("selinux", .object([("enabled", .bool(false))])),
                ("intelRdt", .object([("enabled", .bool(false))])),
            ])),
            ("annotations", .object([
                ("io.kiln.version", .string(version)),
                ("io.kiln.vm", .string("each container runs in its own kiln microVM")),
                (VMSize.kernelAnnotation, .string("guest kernel path")),
                (VMSize.memoryAnnotation, .string("guest RAM in MiB")),
                (VMSize.cpusAnnotation, .string("vCPUs")),
            ])),
        ])
    }
}
