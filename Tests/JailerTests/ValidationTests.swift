import Foundation
import Jailer
import Testing

/// Argument validation, path layout and /proc/mounts parsing: nothing here touches the host.
@Suite struct ValidationTests {
    static let exec = JailerHarness.staticKiln

    func request(id: String = "vm-1", uid: UInt32 = 1000, gid: UInt32 = 1000) -> JailRequest {
        JailRequest(id: id, execFile: Self.exec, uid: uid, gid: gid)
    }

    func error(_ request: JailRequest) -> JailerError? {
        do { _ = try JailConfig.validate(request); return nil } catch { return error }
    }

    @Test(arguments: ["a", "VM-01", String(repeating: "x", count: 64), "551e7604-e35c-42b3-b825-416853441234"])
    func goodIDsPass(id: String) throws {
        let config = try JailConfig.validate(request(id: id))
        #expect(config.id == id)
        #expect(config.chrootBaseDir == "/srv/jailer")
        #expect(config.parentCgroup == "kiln") // the exec file's name
    }

    @Test(arguments: ["", String(repeating: "x", count: 65), "a/b", "..", "a b", "a_b", "é", "a\n"])
    func badIDsFailNamingTheID(id: String) throws {
        let failure = try #require(error(request(id: id)))
        #expect(failure.step == "validate")
        #expect(failure.description.contains("--id"))
    }

    @Test func rootNeedsExplicitConsent() throws {
        #expect(error(request(uid: 0))?.detail.contains("--allow-root") == true)
        #expect(error(request(gid: 0))?.detail.contains("--allow-root") == true)
        var consenting = request(uid: 0, gid: 0)
        consenting.allowRoot = true
        #expect(throws: Never.self) { try JailConfig.validate(consenting) }
    }

    /// CAP_DAC_READ_SEARCH is kept only for the file servers of shared directories, and never
    /// for a VMM running as root (which does not confine its threads' capabilities).
    @Test func keepingDacReadSearchNeedsASharedDirectoryAndAnUnprivilegedVMM() throws {
        var alone = request()
        alone.keepDacReadSearch = true
        #expect(error(alone)?.detail.contains("needs --bind-in-dir") == true)
        var shared = request()
        shared.keepDacReadSearch = true
        shared.bindInDirectories = ["/tmp"]
        #expect(try JailConfig.validate(shared).keepDacReadSearch)
        #expect(try JailConfig.validate(request()).keepDacReadSearch == false)
        var root = shared
        root.uid = 0
        root.allowRoot = true
        #expect(error(root)?.detail.contains("uid/gid 0") == true)
    }

    @Test func execFileMustBeAnExecutableRegularFile() throws {
        var missing = request()
        missing.execFile = "/nonexistent/kiln"
        let failure = try #require(error(missing))
        #expect(failure.errno == ENOENT && failure.description.contains("/nonexistent/kiln"))
        var directory = request()
        directory.execFile = "/tmp"
        #expect(error(directory)?.detail.contains("not a regular file") == true)
        let plain = NSTemporaryDirectory() + "jailer-plain-\(getpid())"
        _ = FileManager.default.createFile(atPath: plain, contents: Data("x".utf8), attributes: [.posixPermissions: 0o644])
        defer { try? FileManager.default.removeItem(atPath: plain) }
        var notExecutable = request()
        notExecutable.execFile = plain
        #expect(error(notExecutable)?.detail.contains("not executable") == true)
    }

    /// A disk image or the agent's readiness socket may be bound in; a FIFO, a device node or a
    /// directory never.
    @Test func bindInTakesRegularFilesAndSocketsOnly() throws {
        let directory = NSTemporaryDirectory() + "jailer-bind-in-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/disk.img", socketPath = directory + "/vsock.sock_1025", fifo = directory + "/fifo"
        _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        #expect(mkfifo(fifo, 0o600) == 0)
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(socketPath.utf8) + [0]) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        var good = request()
        good.bindIn = [file, socketPath]
        #expect(try JailConfig.validate(good).bindIn == [file, socketPath])
        for bad in [fifo, "/dev/null", directory] {
            var refused = request()
            refused.bindIn = [bad]
            #expect(error(refused)?.detail.contains("neither a regular file nor a Unix socket") == true, "\(bad)")
        }
    }

    @Test(arguments: ["relative", "/", "/srv/../etc", "/srv/./x", ""])
    func badChrootBaseDir(path: String) {
        var bad = request()
        bad.chrootBaseDir = path
        #expect(error(bad)?.detail.contains("--chroot-base-dir") == true)
    }

    @Test func chrootBaseDirIsNormalized() throws {
        var trailing = request()
        trailing.chrootBaseDir = "/tmp//jails/"
        #expect(try JailConfig.validate(trailing).chrootBaseDir == "/tmp/jails")
    }

    @Test func cgroupSettingsParse() throws {
        var good = request()
        good.cgroups = ["pids.max=64", "memory.limit_in_bytes=268435456", "cpu.cfs_quota_us=50000", "cpuset.cpus=0-1"]
        let config = try JailConfig.validate(good)
        #expect(config.cgroups.map(\.controller) == ["pids", "memory", "cpu", "cpuset"])
        #expect(config.cgroups[2] == CgroupSetting(file: "cpu.cfs_quota_us", value: "50000"))
    }

    @Test(arguments: ["pids.max", "=1", "pids=1", ".max=1", "pids.=1", "../pids.max=1", "pids.max=", "a/b.c=1"])
    func badCgroupSettings(text: String) {
        var bad = request()
        bad.cgroups = [text]
        #expect(error(bad)?.detail.contains("--cgroup") == true)
    }

    @Test func duplicateCgroupFile() {
        var bad = request()
        bad.cgroups = ["pids.max=1", "pids.max=2"]
        #expect(error(bad)?.detail.contains("twice") == true)
    }

    @Test func cgroupVersionIsOneOrTwo() {
        var bad = request()
        bad.cgroupVersion = 3
        #expect(error(bad)?.detail.contains("--cgroup-version") == true)
    }

    @Test(arguments: ["/abs", "a/../b", "a//b", "."])
    func badParentCgroup(path: String) {
        var bad = request()
        bad.parentCgroup = path
        #expect(error(bad)?.detail.contains("--parent-cgroup") == true)
    }

    @Test func resourceLimitsParse() throws {
        var good = request()
        good.resourceLimits = ["fsize=250000000", "no-file=1024"]
        #expect(try JailConfig.validate(good).resourceLimits == [
            ResourceLimit(resource: .fsize, value: 250_000_000), ResourceLimit(resource: .noFile, value: 1024),
        ])
        for text in ["nofile=1", "fsize", "fsize=-1", "fsize=1k", "no-file="] {
            var bad = request()
            bad.resourceLimits = [text]
            #expect(error(bad)?.detail.contains("--resource-limit") == true, "\(text)")
        }
    }

    @Test func copyInNamesMustNotCollide() {
        var bad = request()
        bad.copyIn = ["/etc/hostname", "/etc/../etc/hostname"]
        #expect(error(bad)?.detail.contains("already has a file named 'hostname'") == true)
        var clash = request()
        clash.copyIn = [JailerHarness.staticKiln] // the exec file's own name
        #expect(error(clash)?.detail.contains("already has a file named 'kiln'") == true)
        var missing = request()
        missing.copyIn = ["/nonexistent/vmlinux"]
        #expect(error(missing)?.errno == ENOENT)
    }

    @Test func dynamicallyLinkedExecutableIsRefused() {
        var dynamic = request()
        dynamic.execFile = "/bin/true"
        #expect(error(dynamic)?.detail.contains("dynamically linked") == true)
        var script = request()
        script.execFile = "/usr/bin/ldd" // a shell script
        #expect(error(script)?.detail.contains("not a 64-bit ELF") == true)
    }

    @Test func missingNetnsFails() {
        var bad = request()
        bad.netns = "/var/run/netns/does-not-exist"
        #expect(error(bad)?.errno == ENOENT)
    }

    @Test func layoutFollowsFirecracker() throws {
        let layout = JailLayout(try JailConfig.validate(request(id: "551e7604")))
        #expect(layout.execDirectory == "/srv/jailer/kiln")
        #expect(layout.jailDirectory == "/srv/jailer/kiln/551e7604")
        #expect(layout.root == "/srv/jailer/kiln/551e7604/root")
        #expect(layout.execPathInJail == "/kiln")
        #expect(layout.pidFileName == "kiln.pid")
        #expect(JailLayout.deviceNodes.map(\.path) == ["dev/kvm", "dev/net/tun", "dev/urandom"])
    }

    @Test func cgroupMountsFromProcMounts() {
        let text = """
            tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
            cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,relatime,cpu,cpuacct 0 0
            cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
            cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
            cgroup /mnt/with\\040space cgroup rw,memory 0 0
            """
        let mounts = CgroupMount.parse(mounts: text)
        #expect(mounts.map(\.path) == ["/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/mnt/with space"])
        #expect(mounts[0].controllers.contains("cpuacct") && mounts[0].version == .v1)
        #expect(mounts[2].version == .v2)
    }

    @Test func errorsAreOneLineWithStepAndErrno() {
        let failure = JailerError(step: "mount namespace", "pivot_root", errno: EINVAL)
        #expect(failure.description == "mount namespace: pivot_root: Invalid argument (errno 22)")
        #expect(!failure.description.contains("\n"))
    }
}
