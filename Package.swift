// swift-tools-version:6.0
import PackageDescription

// Layers point one way: kiln (CLI) -> VMM -> Devices / X86Boot -> GuestMemory / KVM -> CKiln.
// Devices never import KVM: they see an interrupt line and guest memory only.
let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]
/// The agent's modules: no implicit _StringProcessing, so the regex engine (1.3 MB of the static
/// agent, copied into and unpacked by every sandbox's initramfs) is never linked in. Use
/// Character/split rather than String.contains(String), ranges(of:) or Regex in them.
let agentModule: [SwiftSetting] = strict + [.unsafeFlags(["-Xfrontend", "-disable-implicit-string-processing-module-import"])]

let package = Package(
    name: "Kiln",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "kiln", targets: ["kiln"]),
        .executable(name: "kiln-jailer", targets: ["kiln-jailer"]),
        .executable(name: "kiln-agent", targets: ["kiln-agent"]),
        .executable(name: "kiln-oci", targets: ["kiln-oci"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .target(name: "CKiln"),
        .target(name: "KVM", dependencies: ["CKiln"], swiftSettings: strict),
        .target(name: "GuestMemory", dependencies: ["CKiln"], swiftSettings: strict),
        .target(name: "X86Boot", dependencies: ["GuestMemory"], swiftSettings: strict),
        // Snapshot state files (versioned, CRC64-checked container of named sections), encoders
        // of the KVM state, memory files (full, diff, merge, MAP_PRIVATE restore). No Foundation.
        .target(name: "Snapshot", dependencies: ["KVM", "CKiln"], swiftSettings: strict),
        // liburing for virtio-blk's async engine (a static archive too, for the static kiln).
        .target(name: "CURing", linkerSettings: [.linkedLibrary("uring")]),
        // openat2 and getdents64 for the virtio-fs server (Devices/Virtio/Fs).
        .target(name: "CFileServer"),
        // Release builds skip the dynamic exclusivity checks of the queue hot path (a drive's
        // thread spent ~5% of a warm random read in swift_beginAccess and its access set);
        // debug builds, and with them the unit tests, keep them.
        .target(name: "Devices", dependencies: ["GuestMemory", "CKiln", "CURing", "CFileServer"],
                swiftSettings: strict + [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]),
        .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp"),
        .target(name: "Seccomp", dependencies: ["CSeccomp"], swiftSettings: strict),
        .target(name: "VMM", dependencies: ["KVM", "GuestMemory", "X86Boot", "Devices", "CKiln", "Seccomp", "Snapshot"],
                swiftSettings: strict),
        // Firecracker-compatible configuration file and HTTP API. The HTTP side: a small HTTP/1.1
        // parser on one epoll thread, forwarding each request to the VMM thread (no swift-nio: its
        // first connection cost more than the rest of kiln's start-up).
        .target(name: "API", dependencies: [
            "VMM", "Devices", "Seccomp", "CKiln",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        // Installs one role's filter and then makes a syscall the role does not allow (tests only).
        .executableTarget(name: "seccomp-probe", dependencies: ["Seccomp", "CFileServer"], swiftSettings: strict),
        // Mock virtio driver and other test doubles shared by device tests (no /dev/kvm needed).
        .target(name: "TestSupport", dependencies: ["Devices", "GuestMemory", "CKiln"], swiftSettings: strict),
        // Runs programs to completion for the test targets (Foundation: tests only).
        .target(name: "ChildProcessSupport", swiftSettings: strict),
        // Guest agent (PID 1 of the sandbox rootfs) and the host side of its protocol
        // (docs/agent-protocol.md). No Foundation: the agent is linked -static-executable.
        .target(name: "AgentProtocol", swiftSettings: agentModule),
        .target(name: "CExecReport"),
        .target(name: "CAgent"),
        // Interface ioctls (up, IPv4 address) both sides use: the agent on eth0/lo, the host on its TAPs.
        .target(name: "CNetInterface"),
        // kiln-agent only: mounts /proc before the static Swift runtime needs it (PID 1).
        .target(name: "CAgentInit"),
        .target(name: "AgentCore", dependencies: ["AgentProtocol", "CAgent"], swiftSettings: agentModule),
        .executableTarget(name: "kiln-agent", dependencies: ["AgentCore", "AgentProtocol", "CAgent", "CAgentInit", "CNetInterface"],
                          swiftSettings: agentModule),
        // Host-side C helpers of the sandbox (VMM spawn, signals, TUN ioctls, vsock connect,
        // pipe2): never in the agent. No host target depends on CAgent, the agent's shim.
        .target(name: "CHost", dependencies: ["CExecReport"]),
        .target(name: "Sandbox", dependencies: ["AgentProtocol", "CHost"], swiftSettings: strict),
        // Sandbox orchestration on the host (run directories, sandbox state, the VMM process,
        // TAP records, leftovers): typed errors, no exits, no Foundation; `kiln` only parses.
        .target(name: "SandboxHost", dependencies: ["Sandbox", "AgentProtocol", "CHost", "CNetInterface"], swiftSettings: strict),
        // Image references, pulls (skopeo), blob verification and the image store; the rootfs
        // conversion is injected (`RootfsConverter`). FoundationEssentials for JSON only.
        .systemLibrary(name: "CLibcrypto", pkgConfig: "libcrypto"),
        .target(name: "Images", dependencies: ["CLibcrypto"], swiftSettings: strict),
        // Sandboxes from images: which image runs (--image pulled when missing, the default
        // image), the job its config shapes (Env, WorkingDir, User, Entrypoint/Cmd), the store's
        // converter and the account files it saves. Its own target so that SandboxHost, and
        // kiln-oci with it, stay free of FoundationEssentials, libarchive and libext2fs.
        .target(name: "SandboxImages", dependencies: ["Images", "ImageLayers", "Sandbox", "SandboxHost"], swiftSettings: strict),
        // The VMM's own command lines (`kiln boot`, `kiln --api-sock`) read without ArgumentParser's
        // reflection on the start-up path; anything else falls back to ArgumentParser.
        .target(name: "KilnCommandLine", swiftSettings: strict),
        .executableTarget(
            name: "kiln",
            dependencies: ["VMM", "API", "KilnCommandLine", "Sandbox", "SandboxHost", "AgentProtocol", "CHost", "Images", "SandboxImages", "Snapshot", "OCIRuntime",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict),

        // The OCI runtime (issue 18): config.json, container state, relay; `kiln-oci` only parses.
        // No Foundation: a relay process lives as long as its container.
        .target(name: "OCIRuntime", dependencies: ["SandboxHost", "Sandbox", "AgentProtocol", "CHost"], swiftSettings: strict),
        .executableTarget(
            name: "kiln-oci",
            dependencies: ["OCIRuntime", "SandboxHost", "Sandbox", "AgentProtocol", "CHost",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict),

        // The jailer: builds a jail and execs kiln in it without capabilities.
        .systemLibrary(name: "CCap", pkgConfig: "libcap"),
        .target(name: "CJailer"),
        .target(name: "Jailer", dependencies: ["CCap", "CJailer"], swiftSettings: strict),
        .executableTarget(
            name: "kiln-jailer",
            dependencies: ["Jailer", "KilnCommandLine", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict),

        // Image layers -> read-only ext4 rootfs (issue 15): libarchive reads the hostile tarballs,
        // libext2fs writes inodes straight into the image; nothing is extracted on the host.
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive"),
        .target(name: "CRootfsImage", linkerSettings: [.linkedLibrary("ext2fs"), .linkedLibrary("com_err")]),
        .target(name: "ImageLayers", dependencies: ["CArchive", "CRootfsImage"], swiftSettings: strict,
                // The fully static kiln links libarchive.a, whose gzip and zstd readers need these
                // (after it on the link line).
                linkerSettings: [.linkedLibrary("archive"), .linkedLibrary("zstd"), .linkedLibrary("z")]),
        // Builds a rootfs in its own process, so tests can run the builder as an unprivileged user.
        .executableTarget(name: "rootfs-build-probe", dependencies: ["ImageLayers"], swiftSettings: strict),

        .testTarget(name: "GuestMemoryTests", dependencies: ["GuestMemory"]),
        .testTarget(name: "X86BootTests", dependencies: ["X86Boot", "GuestMemory"]),
        .testTarget(name: "DevicesTests", dependencies: ["Devices", "GuestMemory", "TestSupport"]),
        .testTarget(name: "KVMTests", dependencies: ["KVM"]),
        // Snapshot/restore of the freestanding guests on /dev/kvm, in-process (X86Boot loads them).
        .testTarget(name: "SnapshotTests", dependencies: ["Snapshot", "KVM", "CKiln", "X86Boot", "GuestMemory", "VMM"]),
        .testTarget(name: "VMMTests", dependencies: ["VMM"]),
        .testTarget(name: "SeccompTests", dependencies: ["Seccomp", "ChildProcessSupport"]),
        .testTarget(name: "AgentTests", dependencies: ["AgentProtocol", "AgentCore", "Sandbox", "CAgent"]),
        .testTarget(name: "APITests", dependencies: ["API", "VMM"]),
        .testTarget(name: "SandboxHostTests", dependencies: ["SandboxHost", "Sandbox", "CHost"]),
        // The job from the user's options and how the sandbox commands exit (no VM needed).
        .testTarget(name: "SandboxTests", dependencies: ["Sandbox", "AgentProtocol"]),
        .testTarget(name: "SandboxImagesTests", dependencies: ["SandboxImages", "Images", "Sandbox", "SandboxHost"]),
        // config.json parsing, state handling, and the kiln-oci binary's commands that need no KVM.
        .testTarget(name: "OCIRuntimeTests", dependencies: ["OCIRuntime", "SandboxHost", "ChildProcessSupport"]),
        .testTarget(name: "ImagesTests", dependencies: ["Images", "ChildProcessSupport"]),
        // Boots the freestanding guests in Tests/Guests with the built `kiln` binary.
        .testTarget(name: "KilnTests", dependencies: ["ChildProcessSupport", "KilnCommandLine"], exclude: []),
        // Unit parts of the jailer, and real jails (as root) around the static release kiln.
        .testTarget(name: "JailerTests", dependencies: ["Jailer", "kiln-jailer", "ChildProcessSupport"]),
        .testTarget(name: "ImageLayersTests", dependencies: ["ImageLayers", "ChildProcessSupport"],
                    exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)

// Fuzz targets (issue 19; Fuzz/README.md): one executable, `kiln-fuzz TARGET [libFuzzer flags]`.
// Fuzz/run-ci.sh builds it with -sanitize=fuzzer,address -DKILN_FUZZ (libFuzzer drives it); a
// plain build replays inputs (`kiln-fuzz TARGET FILE...`), so the targets always compile.
package.targets.append(.executableTarget(
    name: "kiln-fuzz",
    dependencies: ["Devices", "GuestMemory", "TestSupport", "X86Boot", "API", "VMM", "AgentProtocol", "Images",
                   "ImageLayers", "Snapshot", "OCIRuntime", .product(name: "Logging", package: "swift-log")],
    path: "Fuzz/Sources",
    swiftSettings: strict))
