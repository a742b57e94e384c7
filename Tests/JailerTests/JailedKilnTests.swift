import Foundation
import Testing

/// Real jails, as root: `kiln-jailer` around the static release `kiln` running a test guest,
/// inspected from outside through /proc/PID. Each test uses its own chroot base under /tmp and
/// its own parent cgroup, and removes both.
@Suite(.serialized) struct JailedKilnTests {
    static let zeroCaps = "0000000000000000"

    /// What every thread of a jailed VMM must show in /proc/PID/task/TID/status.
    func expectConfined(_ pid: Int32, uid: UInt32, gid: UInt32) throws {
        ProcFS.waitForSeccomp(pid)
        let threads = try ProcFS.threads(pid)
        #expect(threads.count >= 3, "main, device and vCPU threads expected: \(threads)")
        for tid in threads {
            let status = try ProcFS.status("/proc/\(pid)/task/\(tid)/status")
            #expect(status["Uid"] == "\(uid)\t\(uid)\t\(uid)\t\(uid)", "thread \(tid): \(status["Uid"] ?? "-")")
            #expect(status["Gid"] == "\(gid)\t\(gid)\t\(gid)\t\(gid)", "thread \(tid): \(status["Gid"] ?? "-")")
            #expect(status["Groups"] == "", "thread \(tid): supplementary groups \(status["Groups"] ?? "-")")
            for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
                #expect(status[set] == Self.zeroCaps, "thread \(tid) \(set) = \(status[set] ?? "-")")
            }
            #expect(status["NoNewPrivs"] == "1", "thread \(tid)")
            #expect(status["Seccomp"] == "2", "thread \(tid) (\(status["Name"] ?? "?")) Seccomp \(status["Seccomp"] ?? "-")")
        }
        let own = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/mnt")
        let theirs = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/mnt")
        #expect(own != theirs, "the VMM shares the host's mount namespace")
    }

    @Test func jailedKilnIsConfinedAndItsGuestBoots() throws {
        let harness = try JailerHarness()
        defer { harness.cleanUp() }
        let id = "confined-1"
        let jailed = try harness.start(harness.arguments(
            id: id,
            extra: ["--copy-in", try JailerHarness.guest("idle.elf"),
                    "--cgroup", "pids.max=16", "--cgroup", "memory.limit_in_bytes=536870912",
                    "--cgroup", "cpu.cfs_quota_us=50000", "--cgroup", "cpuset.cpus=0",
                    "--resource-limit", "fsize=1048576", "--resource-limit", "no-file=512"],
            kiln: ["boot", "--kernel", "/idle.elf", "--memory", "64", "--no-stdin"]), ready: "IDLE")
        defer { jailed.stop() }
        let pid = jailed.pid

        try expectConfined(pid, uid: harness.uid, gid: harness.gid)

        // Its root is the jail, holding only the executable, the guest and the three devices.
        let tree = try ProcFS.tree("/proc/\(pid)/root")
        #expect(tree == ["kiln", "idle.elf", "dev", "dev/kvm", "dev/net", "dev/net/tun", "dev/urandom"], "\(tree)")
        for device in ["dev/kvm", "dev/net/tun", "dev/urandom"] {
            var info = stat()
            #expect(stat("/proc/\(pid)/root/\(device)", &info) == 0)
            #expect(info.st_uid == harness.uid && info.st_gid == harness.gid && info.st_mode & S_IFMT == S_IFCHR, "\(device)")
        }

        var executable = stat()
        #expect(stat("/proc/\(pid)/root/kiln", &executable) == 0)
        #expect(executable.st_uid == 0 && executable.st_mode & 0o022 == 0, "the VMM must not be able to change its executable")

        // It sits in the requested cgroups, with the limits written.
        let cgroups = try ProcFS.text("/proc/\(pid)/cgroup")
        for controller in ["pids", "memory", "cpu", "cpuset"] {
            #expect(cgroups.contains(":\(controller):/\(harness.parentCgroup)/\(id)\n"), "\(cgroups)")
        }
        let group = { (hierarchy: String, file: String) throws -> String in
            try ProcFS.text("/sys/fs/cgroup/\(hierarchy)/\(harness.parentCgroup)/\(id)/\(file)")
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(try group("pids", "pids.max") == "16")
        #expect(try group("pids", "pids.current") == "\(try ProcFS.threads(pid).count)")
        #expect(try group("memory", "memory.limit_in_bytes") == "536870912")
        let usage = UInt64(try group("memory", "memory.usage_in_bytes")) ?? 0
        #expect(usage > 0 && usage <= 536_870_912, "memory.usage_in_bytes \(usage)")
        #expect(try group("cpu", "cpu.cfs_quota_us") == "50000")
        // A new cpuset group gets its memory nodes from its parent, or no task could join it.
        #expect(try group("cpuset", "cpuset.cpus") == "0")
        #expect(try group("cpuset", "cpuset.mems") == (try ProcFS.text("/sys/fs/cgroup/cpuset/cpuset.mems")).trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(try ProcFS.status("/proc/\(pid)/status")["Cpus_allowed_list"] == "0")

        // And the resource limits are set.
        let limits = try ProcFS.text("/proc/\(pid)/limits").split(separator: "\n")
        let fileSize = limits.first { $0.hasPrefix("Max file size") }?.split(separator: " ", omittingEmptySubsequences: true)
        #expect(fileSize?[3] == "1048576" && fileSize?[4] == "1048576", "\(fileSize ?? [])")
        let openFiles = limits.first { $0.hasPrefix("Max open files") }?.split(separator: " ", omittingEmptySubsequences: true)
        #expect(openFiles?[3] == "512" && openFiles?[4] == "512", "\(openFiles ?? [])")
    }

    /// A VMM serving a shared directory (`--keep-dac-read-search`, as kiln's JailPlan passes it
    /// with shares) keeps CAP_DAC_READ_SEARCH on its device thread (the virtio-fs servers) and
    /// nowhere else: every other thread has empty permitted, effective, inheritable and ambient
    /// sets; the bounding set is that one capability everywhere; no_new_privs and seccomp stay.
    /// Given the flag but booted without a share, kiln keeps nothing on any thread.
    @Test(arguments: [true, false])
    func onlyTheDeviceThreadOfAVMMWithSharesKeepsDacReadSearch(share: Bool) throws {
        let harness = try JailerHarness()
        defer { harness.cleanUp() }
        let shared = harness.base + "-share"
        try FileManager.default.createDirectory(atPath: shared + "/private", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: shared) }
        let jailed = try harness.start(harness.arguments(
            id: share ? "share-caps-1" : "share-caps-2",
            extra: ["--copy-in", try JailerHarness.guest("idle.elf"), "--bind-in-dir", shared, "--keep-dac-read-search"],
            // --control-sock as kiln-oci's VMM has it: the API thread, spawned while the main
            // thread still holds the capability, drops it itself.
            kiln: ["boot", "--kernel", "/idle.elf", "--memory", "64", "--no-stdin", "--control-sock", "/api.sock"]
                + (share ? ["--share", "/share0:data"] : [])),
            ready: "IDLE")
        defer { jailed.stop() }
        let pid = jailed.pid
        ProcFS.waitForSeccomp(pid)
        let dacReadSearch = "0000000000000004"
        var holders: [String] = []
        let threads = try ProcFS.threads(pid)
        #expect(threads.count >= 3, "main, device and vCPU threads expected: \(threads)")
        for tid in threads {
            let status = try ProcFS.status("/proc/\(pid)/task/\(tid)/status")
            let name = status["Name"] ?? "?"
            let holds = share && name == "kiln_devices"
            if status["CapEff"] != Self.zeroCaps || status["CapPrm"] != Self.zeroCaps { holders.append(name) }
            #expect(status["CapPrm"] == (holds ? dacReadSearch : Self.zeroCaps), "\(name) CapPrm \(status["CapPrm"] ?? "-")")
            #expect(status["CapEff"] == (holds ? dacReadSearch : Self.zeroCaps), "\(name) CapEff \(status["CapEff"] ?? "-")")
            #expect(status["CapInh"] == Self.zeroCaps, "\(name) CapInh \(status["CapInh"] ?? "-")")
            #expect(status["CapAmb"] == Self.zeroCaps, "\(name) CapAmb \(status["CapAmb"] ?? "-")")
            #expect(status["CapBnd"] == dacReadSearch, "\(name) CapBnd \(status["CapBnd"] ?? "-")")
            #expect(status["NoNewPrivs"] == "1", "\(name)")
            #expect(status["Seccomp"] == "2", "\(name) Seccomp \(status["Seccomp"] ?? "-")")
            #expect(status["Uid"] == "\(harness.uid)\t\(harness.uid)\t\(harness.uid)\t\(harness.uid)", "\(name)")
        }
        #expect(holders == (share ? ["kiln_devices"] : []), "threads holding capabilities: \(holders)")
        let names = try threads.map { try ProcFS.status("/proc/\(pid)/task/\($0)/status")["Name"] ?? "?" }
        #expect(names.contains("kiln_api") && names.contains("kiln_devices"), "\(names)")
    }

    /// Firecracker's flow: kiln starts with its API socket inside the jail, the guest is put
    /// in the jail, configured and started through the socket from outside.
    @Test func apiSocketInsideTheJailAnswersAndBootsTheGuest() throws {
        let harness = try JailerHarness()
        defer { harness.cleanUp() }
        let id = "api-1"
        let root = harness.jailRoot(id)
        let jailed = try harness.start(harness.arguments(
            id: id, extra: ["--copy-in", try JailerHarness.guest("idle.elf"), "--cgroup", "pids.max=32"],
            kiln: ["--api-sock", "/api.sock", "--id", id]), ready: "", timeout: 1)
        defer { jailed.stop() }
        let socket = root + "/api.sock"
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: socket) {
            guard Date() < deadline, jailed.process.isRunning else { throw HarnessError("no API socket at \(socket): \(jailed.errorText())") }
            usleep(10_000)
        }
        var info = stat()
        #expect(stat(socket, &info) == 0 && info.st_uid == harness.uid, "the socket belongs to the VMM's uid")

        let describe = try UnixHTTP.request(socket, "GET", "/")
        #expect(describe.status == 200 && describe.body.contains(id), "\(describe)")
        let bootSource = try UnixHTTP.request(socket, "PUT", "/boot-source",
                                              body: #"{"kernel_image_path": "/idle.elf", "boot_args": "console=ttyS0"}"#)
        #expect(bootSource.status == 204, "\(bootSource)")
        let machine = try UnixHTTP.request(socket, "PUT", "/machine-config", body: #"{"vcpu_count": 1, "mem_size_mib": 64}"#)
        #expect(machine.status == 204, "\(machine)")
        let start = try UnixHTTP.request(socket, "PUT", "/actions", body: #"{"action_type": "InstanceStart"}"#)
        #expect(start.status == 204, "\(start)")
        try jailed.waitForOutput("IDLE", timeout: 20)

        try expectConfined(jailed.pid, uid: harness.uid, gid: harness.gid)
        let names = try ProcFS.threads(jailed.pid).compactMap { try? ProcFS.status("/proc/\(jailed.pid)/task/\($0)/status")["Name"] }
        #expect(names.contains("kiln_api"), "\(names)")
        let tree = try ProcFS.tree("/proc/\(jailed.pid)/root")
        #expect(tree == ["kiln", "idle.elf", "api.sock", "dev", "dev/kvm", "dev/net", "dev/net/tun", "dev/urandom"], "\(tree)")
        #expect(try UnixHTTP.request(socket, "GET", "/machine-config").body.contains("\"mem_size_mib\":64"))
    }

    /// The executable is hard-linked when that is as safe as a copy (root's, writable by no one
    /// else, same filesystem); otherwise copied. Either way the jail's /kiln is root's, mode 0755.
    @Test func executableIsLinkedOnlyWhenSafeOtherwiseCopied() throws {
        let harness = try JailerHarness()
        defer { harness.cleanUp() }
        func inode(_ path: String) throws -> stat {
            var info = stat()
            guard stat(path, &info) == 0 else { throw HarnessError("stat \(path): errno \(errno)") }
            return info
        }
        let linked = try harness.run(harness.arguments(id: "link-1", extra: [], kiln: ["--version"]))
        #expect(linked.status == 0, "\(linked.stderr)")
        let original = try inode(JailerHarness.staticKiln)
        let inJail = try inode(harness.jailRoot("link-1") + "/kiln")
        #expect(inJail.st_ino == original.st_ino && inJail.st_dev == original.st_dev)

        // Owned by the VM's uid: linking would let the VMM rewrite its own executable.
        let owned = harness.base + "/owned/kiln"
        try FileManager.default.createDirectory(atPath: harness.base + "/owned", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: JailerHarness.staticKiln, toPath: owned)
        #expect(chown(owned, harness.uid, harness.gid) == 0)
        var arguments = harness.arguments(id: "copy-1", extra: [], kiln: ["--version"])
        arguments[arguments.firstIndex(of: "--exec-file")! + 1] = owned
        let copied = try harness.run(arguments)
        #expect(copied.status == 0, "\(copied.stderr)")
        let copy = try inode(harness.jailRoot("copy-1") + "/kiln")
        #expect(copy.st_ino != (try inode(owned)).st_ino)
        #expect(copy.st_uid == 0 && copy.st_gid == 0 && copy.st_mode & 0o7777 == 0o755)
        #expect(copy.st_size == original.st_size)
    }

    /// A safe executable on another filesystem (no hard link possible) is bind-mounted read-only
    /// in the jail, not copied: the jail directory holds only its empty mount point.
    @Test func executableOnAnotherFilesystemIsBoundNotCopied() throws {
        let harness = try JailerHarness()
        defer { harness.cleanUp() }
        let elsewhere = "/dev/shm/kiln-jailer-exec-\(getpid())"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: elsewhere) }
        let kiln = elsewhere + "/kiln"
        try FileManager.default.copyItem(atPath: JailerHarness.staticKiln, toPath: kiln)
        #expect(chmod(kiln, 0o755) == 0)
        var source = stat(), base = stat()
        // The jail is built under /tmp (JailerHarness.base).
        #expect(stat(kiln, &source) == 0 && stat("/tmp", &base) == 0)
        try #require(source.st_dev != base.st_dev, "/dev/shm and /tmp are one filesystem: no bind mount to test")
        var arguments = harness.arguments(id: "bind-1", extra: [], kiln: ["--version"])
        arguments[arguments.firstIndex(of: "--exec-file")! + 1] = kiln
        let result = try harness.run(arguments)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stdout.isEmpty, "no version printed: \(result.stderr)")
        var mountPoint = stat()
        #expect(stat(harness.jailRoot("bind-1") + "/kiln", &mountPoint) == 0)
        #expect(mountPoint.st_size == 0 && mountPoint.st_uid == 0, "the jail holds a copy: \(mountPoint.st_size) bytes")
    }

    /// pids.max below what kiln needs (main, device thread, two vCPUs): thread creation fails.
    @Test func pidsLimitIsEnforced() throws {
        let harness = try JailerHarness()
        defer { harness.cleanUp() }
        let result = try harness.run(harness.arguments(
            id: "pids-2", extra: ["--copy-in", try JailerHarness.guest("idle.elf"), "--cgroup", "pids.max=2"],
            kiln: ["boot", "--kernel", "/idle.elf", "--cpus", "2", "--no-stdin"]))
        #expect(result.status != 0, "kiln ran with pids.max=2: \(result.stderr)")
        #expect(!result.stdout.contains("IDLE"))
        #expect(result.stderr.contains("kiln: error: pthread_create") && result.stderr.contains("Resource temporarily unavailable"),
                "\(result.stderr)")
    }

    /// memory.limit_in_bytes below what kiln needs to start: charges fail (memory.failcnt), so
    /// either a kernel allocation fails (kiln exits 1 naming ENOMEM, e.g. KVM_CREATE_VCPU) or
    /// the OOM killer ends kiln (SIGKILL); which one depends on where the limit is hit first.
    @Test func memoryLimitIsEnforced() throws {
        let harness = try JailerHarness()
        defer { harness.cleanUp() }
        let id = "mem-1m"
        let result = try harness.run(harness.arguments(
            id: id, extra: ["--copy-in", try JailerHarness.guest("idle.elf"), "--cgroup", "memory.limit_in_bytes=1048576"],
            kiln: ["boot", "--kernel", "/idle.elf", "--no-stdin"]))
        #expect(!result.stdout.contains("IDLE"), "the guest ran under a 1 MiB limit")
        let group = "/sys/fs/cgroup/memory/\(harness.parentCgroup)/\(id)"
        let failures = Int(try ProcFS.text(group + "/memory.failcnt").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(failures > 0, "memory.failcnt 0: the limit was never hit")
        let oomKills = try ProcFS.text(group + "/memory.oom_control").split(separator: "\n").contains("oom_kill 1")
        if result.status == SIGKILL {
            #expect(oomKills, "killed, but not by the OOM killer")
        } else {
            #expect(result.status == 1 && result.stderr.contains("Cannot allocate memory"), "status \(result.status): \(result.stderr)")
        }
    }

    @Test func newPidNamespaceNetworkNamespaceAndDaemonize() throws {
        let harness = try JailerHarness()
        defer { harness.cleanUp() }
        // A network namespace to join: the one of a process unshare(1) started in a new one.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        holder.arguments = ["--net", "sleep", "60"]
        try holder.run()
        defer {
            kill(holder.processIdentifier, SIGKILL)
            holder.waitUntilExit()
        }
        let hostNet = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
        let netns = "/proc/\(holder.processIdentifier)/ns/net"
        let netDeadline = Date().addingTimeInterval(5)
        while (try? FileManager.default.destinationOfSymbolicLink(atPath: netns)) ?? hostNet == hostNet {
            guard Date() < netDeadline else { throw HarnessError("unshare --net did not create a network namespace") }
            usleep(5_000)
        }
        let vmNet = try FileManager.default.destinationOfSymbolicLink(atPath: netns)

        let id = "pidns-1"
        let result = try harness.run(harness.arguments(
            id: id, extra: ["--new-pid-ns", "--daemonize", "--netns", netns, "--copy-in", try JailerHarness.guest("idle.elf")],
            kiln: ["boot", "--kernel", "/idle.elf", "--serial-output", "/serial.log", "--no-stdin"]))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.isEmpty && result.stderr.isEmpty)
        let pidText = try ProcFS.text(harness.jailRoot(id) + "/kiln.pid")
        let pid = try #require(Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
        defer {
            kill(pid, SIGKILL)
            // Not our child (its parent, the jailer, exited): wait until it is gone or a zombie.
            for _ in 0..<100 where ((try? ProcFS.status("/proc/\(pid)/status"))?["State"]?.hasPrefix("Z") == false) {
                usleep(20_000)
            }
        }
        let deadline = Date().addingTimeInterval(20)
        while !((try? ProcFS.text(harness.jailRoot(id) + "/serial.log"))?.contains("IDLE") ?? false) {
            guard Date() < deadline else { throw HarnessError("jailed guest wrote no IDLE to /serial.log") }
            usleep(20_000)
        }
        try expectConfined(pid, uid: harness.uid, gid: harness.gid)
        let status = try ProcFS.status("/proc/\(pid)/status")
        #expect(status["NSpid"]?.split(separator: "\t").last == "1", "NSpid \(status["NSpid"] ?? "-")")
        let own = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/pid") != own)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net") == vmNet)
        // Daemonized: its own session, standard streams on /dev/null.
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/1") == "/dev/null")
        let tree = try ProcFS.tree("/proc/\(pid)/root")
        #expect(tree == ["kiln", "kiln.pid", "idle.elf", "serial.log", "dev", "dev/kvm", "dev/net", "dev/net/tun", "dev/urandom"], "\(tree)")
    }

    @Test func cgroupV2GroupHoldsTheVMM() throws {
        let harness = try JailerHarness()
        defer { harness.cleanUp() }
        let id = "v2-1"
        // cgroup.max.descendants is a core v2 file: it needs no controller, so this runs even
        // where the v2 hierarchy has none enabled (as here, where v1 holds them).
        let jailed = try harness.start(harness.arguments(
            id: id, extra: ["--cgroup-version", "2", "--cgroup", "cgroup.max.descendants=0",
                            "--copy-in", try JailerHarness.guest("idle.elf")],
            kiln: ["boot", "--kernel", "/idle.elf", "--no-stdin"]), ready: "IDLE")
        defer { jailed.stop() }
        let cgroups = try ProcFS.text("/proc/\(jailed.pid)/cgroup")
        #expect(cgroups.contains("0::/\(harness.parentCgroup)/\(id)\n"), "\(cgroups)")
        let group = "/sys/fs/cgroup/unified/\(harness.parentCgroup)/\(id)"
        #expect(try ProcFS.text(group + "/cgroup.max.descendants") == "0\n")
        #expect(mkdir(group + "/child", 0o755) != 0, "cgroup.max.descendants=0 not in force")
    }

    /// v2 controller limits (memory.max, pids.max) need those controllers in the v2 hierarchy.
    /// Where they are missing (this machine: v1 holds them) the jailer must refuse clearly and
    /// leave nothing behind; where they exist, the limit must be in force.
    @Test func cgroupV2ControllerLimit() throws {
        let harness = try JailerHarness()
        defer { harness.cleanUp() }
        let controllers = try ProcFS.text("/sys/fs/cgroup/unified/cgroup.controllers")
        let id = "v2-pids"
        let arguments = harness.arguments(
            id: id, extra: ["--cgroup-version", "2", "--cgroup", "pids.max=16", "--copy-in", try JailerHarness.guest("idle.elf")],
            kiln: ["boot", "--kernel", "/idle.elf", "--no-stdin"])
        if controllers.split(separator: " ").contains(where: { $0.trimmingCharacters(in: .whitespacesAndNewlines) == "pids" }) {
            let jailed = try harness.start(arguments, ready: "IDLE")
            defer { jailed.stop() }
            #expect(try ProcFS.text("/sys/fs/cgroup/unified/\(harness.parentCgroup)/\(id)/pids.max") == "16\n")
        } else {
            print("cgroupV2ControllerLimit: pids is not enabled in /sys/fs/cgroup/unified (controllers: '\(controllers.trimmingCharacters(in: .whitespacesAndNewlines))'); the limit itself cannot be tested here, checking the refusal instead")
            let result = try harness.run(arguments)
            #expect(result.status == 1)
            #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.contains("'pids' controller is not enabled"), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: harness.base), "jail left behind")
            #expect(!harness.cgroupExists("unified", id))
        }
    }

    /// A v2 controller limit: the jailer turns the controller on in each ancestor's
    /// cgroup.subtree_control down to the VM's group. Uses a controller the v2 hierarchy has
    /// here (hugetlb on our machines; v1 holds the others). A failed run turns it off again.
    @Test func cgroupV2ControllerIsTurnedOnDownToTheGroup() throws {
        let root = "/sys/fs/cgroup/unified"
        let available = try ProcFS.text(root + "/cgroup.controllers").split(whereSeparator: \.isWhitespace).map(String.init)
        let candidates = [("hugetlb", "hugetlb.2MB.max", "0"), ("pids", "pids.max", "16"), ("memory", "memory.max", "536870912")]
        guard let (controller, file, value) = candidates.first(where: { available.contains($0.0) }) else {
            throw HarnessError("no controller in \(root)/cgroup.controllers ('\(available.joined(separator: " "))'): v2 controller limits cannot be tested on this machine")
        }
        let enabledBefore = try ProcFS.text(root + "/cgroup.subtree_control").split(whereSeparator: \.isWhitespace).contains(Substring(controller))
        let harness = try JailerHarness()
        defer {
            harness.cleanUp()
            if !enabledBefore { try? "-\(controller)".write(toFile: root + "/cgroup.subtree_control", atomically: false, encoding: .utf8) }
        }
        let idle = try JailerHarness.guest("idle.elf")

        // A failing run (a bad file after the controller was turned on) undoes it.
        let failed = try harness.run(harness.arguments(
            id: "v2-bad", extra: ["--cgroup-version", "2", "--cgroup", "\(file)=\(value)", "--cgroup", "\(controller).no_such_file=1"],
            kiln: []))
        #expect(failed.status == 1 && failed.stderr.contains("\(controller).no_such_file"), "\(failed.stderr)")
        #expect(!harness.cgroupExists("unified", "v2-bad"))
        let afterFailure = try ProcFS.text(root + "/cgroup.subtree_control").split(whereSeparator: \.isWhitespace)
        #expect(afterFailure.contains(Substring(controller)) == enabledBefore, "subtree_control after the failed run: \(afterFailure)")

        let id = "v2-ctl"
        let jailed = try harness.start(harness.arguments(
            id: id, extra: ["--cgroup-version", "2", "--cgroup", "\(file)=\(value)", "--copy-in", idle],
            kiln: ["boot", "--kernel", "/idle.elf", "--no-stdin"]), ready: "IDLE")
        defer { jailed.stop() }
        #expect(try ProcFS.text("/proc/\(jailed.pid)/cgroup").contains("0::/\(harness.parentCgroup)/\(id)\n"))
        #expect(try ProcFS.text("\(root)/\(harness.parentCgroup)/\(id)/\(file)") == "\(value)\n")
        #expect(try ProcFS.text("\(root)/\(harness.parentCgroup)/cgroup.subtree_control").contains(controller))
    }

    @Test func rootNeedsConsentAndStillLosesEveryCapability() throws {
        let harness = try JailerHarness()
        defer { harness.cleanUp() }
        let idle = try JailerHarness.guest("idle.elf")
        var arguments = harness.arguments(id: "root-1", extra: ["--copy-in", idle], kiln: ["boot", "--kernel", "/idle.elf", "--no-stdin"])
        arguments[arguments.firstIndex(of: "--uid")! + 1] = "0"
        arguments[arguments.firstIndex(of: "--gid")! + 1] = "0"
        let refused = try harness.run(arguments)
        #expect(refused.status == 1 && refused.stderr.contains("--allow-root"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: harness.base))

        let jailed = try harness.start(["--allow-root"] + arguments, ready: "IDLE")
        defer { jailed.stop() }
        try expectConfined(jailed.pid, uid: 0, gid: 0)
    }
}
