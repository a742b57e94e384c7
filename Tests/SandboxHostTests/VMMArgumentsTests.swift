@testable import SandboxHost
import Testing

/// What `kiln run`/`create` hand kiln-jailer: the image's root filesystem and the agent
/// initramfs are bind-mounted read-only (one page cache for every sandbox, nothing copied), only
/// the scratch disk the VMM writes is copied in.
@Suite struct VMMArgumentsTests {
    let jail = JailPlan(jailer: "/usr/bin/kiln-jailer", execFile: "/usr/bin/kiln", id: "run-1", uid: 65534, gid: 65534,
                        base: "/run/kiln/run-1")
    let rootfs = "/var/lib/kiln/images/images/0123abcd/rootfs.ext4"

    func arguments(image: VMMProcess.Image, agentInitrd: String? = "/root/.cache/kiln/agent-initrd/k/agent-initrd.cpio",
                   scratchDisk: String? = nil, shares: [HostShare] = [], detached: Bool = false) -> VMMArguments {
        VMMArguments(kernel: "/opt/kiln/vmlinux", image: image, cpus: 2, memory: 256, cid: 7, seccomp: true,
                     detached: detached, tap: nil, agentInitrd: agentInitrd, scratchDisk: scratchDisk, shares: shares,
                     hostname: nil, guestLink: nil)
    }

    /// The values of every `option` before the `--` that ends the jailer's own options.
    func jailerValues(_ argv: [String], _ option: String) -> [String] {
        let own = argv.prefix(upTo: argv.firstIndex(of: "--") ?? argv.endIndex)
        return own.indices.dropLast().filter { own[$0] == option }.map { own[$0 + 1] }
    }

    func kilnArguments(_ argv: [String]) -> [String] {
        Array(argv.suffix(from: argv.firstIndex(of: "--").map { $0 + 1 } ?? argv.endIndex))
    }

    @Test func imageAndInitrdAreBoundNeverCopied() throws {
        let argv = try arguments(image: .disk(path: rootfs)).jailed(jail, readinessSocket: "/run/kiln/run-1/ready.sock",
                                                                   parentPid: 4242)
        #expect(argv.first == "/usr/bin/kiln-jailer")
        #expect(jailerValues(argv, "--copy-in").isEmpty, "\(argv)")
        #expect(jailerValues(argv, "--bind-in") == ["/opt/kiln/vmlinux", "/root/.cache/kiln/agent-initrd/k/agent-initrd.cpio",
                                                      rootfs, "/run/kiln/run-1/ready.sock"], "\(argv)")
        let boot = kilnArguments(argv)
        #expect(Array(boot.prefix(3)) == ["boot", "--kernel", "/vmlinux"])
        #expect(boot.contains("/rootfs.ext4,ro") && boot.contains("/agent-initrd.cpio"), "\(boot)")
        #expect(!boot.contains { ["/var/lib/", "/root/", "/opt/"].contains(where: $0.hasPrefix) }, "a host path reached the jailed VMM: \(boot)")
        #expect(Array(boot.suffix(2)) == ["--die-with-parent", "4242"])
    }

    @Test func onlyTheScratchDiskIsCopied() throws {
        let scratch = "/run/kiln/run-1/scratch.ext4"
        let argv = try arguments(image: .disk(path: rootfs), scratchDisk: scratch, detached: true)
            .jailed(jail, readinessSocket: nil, parentPid: nil)
        #expect(jailerValues(argv, "--copy-in") == [scratch])
        #expect(jailerValues(argv, "--bind-in").contains(rootfs))
        #expect(!jailerValues(argv, "--bind-in").contains(scratch))
        let boot = kilnArguments(argv)
        #expect(boot.contains("/rootfs.ext4,ro") && boot.contains("/scratch.ext4,rw"), "\(boot)")
        #expect(!boot.contains("--die-with-parent") && boot.contains("--control-sock"), "\(boot)")
    }

    @Test func anImageDirectoryIsABoundDirectoryShare() throws {
        let share = HostShare(hostPath: "/srv/data", guestPath: "/data", tag: "kiln-share0")
        let argv = try arguments(image: .directory(path: "/bundle/rootfs"), shares: [share])
            .jailed(jail, readinessSocket: nil, parentPid: 1)
        #expect(jailerValues(argv, "--copy-in").isEmpty)
        #expect(jailerValues(argv, "--bind-in-dir") == ["/bundle/rootfs", "/srv/data"])
        let boot = kilnArguments(argv)
        #expect(jailerValues(boot, "--share") == ["/share0:kiln-root", "/share1:kiln-share0"], "\(boot)")
        #expect(!boot.contains("--drive"))
    }

    @Test func twoFilesOfOneNameAreRefused() {
        #expect(throws: SandboxHostError.sameFileName("vmlinux")) {
            try arguments(image: .disk(path: "/images/vmlinux")).jailed(jail, readinessSocket: nil, parentPid: nil)
        }
    }

    @Test func unjailedTheVMMGetsHostPaths() {
        let argv = arguments(image: .disk(path: rootfs)).direct(kiln: "/usr/bin/kiln", runDirectory: "/tmp/kiln-run.x")
        #expect(Array(argv.prefix(4)) == ["/usr/bin/kiln", "boot", "--kernel", "/opt/kiln/vmlinux"])
        #expect(argv.contains(rootfs + ",ro") && argv.contains("/tmp/kiln-run.x/console.log"), "\(argv)")
        #expect(!argv.contains("--bind-in") && !argv.contains("--copy-in"))
    }

    /// The guest's crng must be ready before the agent starts: its Swift runtime seeds hashing
    /// with a blocking getrandom, which waited ~1.2 s in the nested harness without a source.
    @Test func everySandboxVMGetsAnEntropyDevice() throws {
        let direct = arguments(image: .disk(path: rootfs)).direct(kiln: "/usr/bin/kiln", runDirectory: "/tmp/kiln-run.x")
        #expect(direct.contains("--entropy"), "\(direct)")
        let jailed = try arguments(image: .directory(path: "/bundle/rootfs"), detached: true)
            .jailed(jail, readinessSocket: nil, parentPid: nil)
        #expect(kilnArguments(jailed).contains("--entropy"), "\(jailed)")
    }
}
