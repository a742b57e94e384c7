import CHost
import Glibc
import OCIRuntime
import Sandbox
import SandboxHost

/// The steps of `create`: check the bundle, make the state directory, boot the VM on the
/// bundle's rootfs directory (served read-only over virtio-fs, the guest's tmpfs overlay taking
/// writes; its TAP in the container's network namespace), wait for the agent, then start the
/// relay. Any failure removes what was made, so a failed create leaves no state and no VM.
struct Launch {
    let store: ContainerStore
    let log: RuntimeLog
    let debug: Bool

    /// The guest's vsock context id (each VM has its own device).
    static let guestCID: UInt32 = 3
    /// The nested test harness boots in seconds; a hardware host in well under one.
    static let bootTimeout: Double = 120
    func note(_ text: String) { if debug { log.write(level: "debug", text) } }

    /// Returns the relay's pid.
    func create(id: String, bundle: String, consoleSocket: String?) throws(OCIRuntimeError) -> pid_t {
        if let problem = ContainerID.problem(id) { throw .badID(id: id, problem: problem) }
        let config: OCIConfig
        do { config = try OCIConfig.load(bundle: bundle) } catch { throw .config(error) }
        let rootfs = config.rootPath.hasPrefix("/") ? config.rootPath : bundle + "/" + config.rootPath
        guard HostBinds.inspect(rootfs)?.isDirectory == true else {
            throw .config(.invalid(field: "root.path", problem: "\(rootfs) is not a directory"))
        }
        let size: VMSize
        let binds: HostBinds
        do {
            size = try VMSize.of(config, hostMemoryMiB: Self.hostMemoryMiB())
            binds = try HostBinds.classify(config)
        } catch { throw .config(error) }
        if config.process.terminal && consoleSocket == nil {
            throw .config(.invalid(field: "process.terminal", problem: "true needs --console-socket"))
        }
        let assets = try Assets.resolve(kernel: size.kernel)
        for setting in config.process.unappliedSettings { log.write(level: "warning", "\(id): not applied in the VM: \(setting)") }
        guard assets.agentInitrd != nil else {
            throw .failed("no agent initramfs (it mounts the bundle's rootfs in the guest): set $KILN_AGENT_INITRD or install one with `kiln setup`")
        }
        let directory = try store.claim(id)
        do {
            return try boot(id: id, bundle: bundle, config: config, rootfs: rootfs, shares: binds.shares, size: size,
                            assets: assets, directory: directory, consoleSocket: consoleSocket)
        } catch {
            // From the namespace the TAP (if any) was made in: its record names it there.
            let netns: String? = if case .path(let path) = config.network { path } else { nil }
            try? NetworkNamespace.within(netns) { () throws(OCIRuntimeError) in try? directory.remove() }
            throw error
        }
    }

    private func boot(id: String, bundle: String, config: OCIConfig, rootfs: String, shares: [HostShare], size: VMSize,
                      assets: Assets, directory: RunDirectory, consoleSocket: String?) throws(OCIRuntimeError) -> pid_t {
        // The relay reads the config as it was at create (the bundle may change or go).
        try copyFile(bundle + "/config.json", to: directory.file("config.json"))
        let netns: String? = if case .path(let path) = config.network { path } else { nil }
        // Recorded before anything is made there (CreationJournal).
        if let netns { try CreationJournal.recordNetworkNamespace(netns, in: directory) }
        let vmm = try NetworkNamespace.within(netns) { () throws(OCIRuntimeError) -> VMMProcess in
            let jail: JailPlan?
            do throws(SandboxHostError) {
                // KILN_OCI_NO_JAIL=1 (development with a dynamically linked kiln): no jail, as `kiln run --no-jail`.
                jail = try JailPlan.make(id: "oci-\(getpid())", base: directory.file("jail"), uid: 65534, gid: 65534,
                                         enabled: getenv("KILN_OCI_NO_JAIL").map { String(cString: $0) } != "1")
            } catch {
                throw .host(error)
            }
            // A TAP only where the engine made a network namespace for the container; where
            // the engine gave it an interface, the guest takes that over (EngineLink).
            var tap: HostTap? = nil
            var guestLink: VMMProcess.GuestLinkOverride? = nil
            if netns != nil && geteuid() == 0 {
                let engine = try EngineLink.discover(directory: directory)
                let created: HostTap
                do throws(SandboxHostError) {
                    created = try TapRecord.create(in: directory, jail: jail, addressed: engine == nil) {
                        TestStop.at("tap-claimed")
                    }
                } catch {
                    throw .host(error)
                }
                TestStop.at("tap")
                tap = created
                if let engine {
                    do throws(OCIRuntimeError) {
                        try CreationJournal.recordEngineLink(engine.name, in: directory)
                        try EngineLink.redirect(tap: created.name, to: engine, directory: directory)
                    } catch {
                        // Here, in the namespace the TAP is in: the record names it there.
                        try? directory.remove()
                        throw error
                    }
                    guestLink = VMMProcess.GuestLinkOverride(network: engine.network, mac: engine.mac)
                    note("\(id): the guest takes over \(engine.name) (\(engine.network), \(engine.mac))")
                }
            }
            note("\(id): starting the VMM (\(size.cpus) vCPUs, \(size.memoryMiB) MiB\(tap.map { ", TAP \($0.name)" } ?? ""))")
            do throws(SandboxHostError) {
                return try VMMProcess.start(kernel: assets.kernel, image: .directory(path: rootfs), cpus: size.cpus,
                                            memory: size.memoryMiB, cid: Self.guestCID, seccomp: true, directory: directory,
                                            detached: true, jail: jail, tap: tap, agentInitrd: assets.agentInitrd,
                                            shares: shares, hostname: config.hostname, guestLink: guestLink,
                                            record: .identity(at: directory.file(CreationJournal.vmmName)))
            } catch {
                throw .host(error)
            }
        }
        TestStop.at("vmm")
        guard let vmmIdentity = ProcessIdentity.of(vmm.pid) else {
            vmm.stop()
            throw .failed("the VMM of \(id) ended at once: \(vmm.logTails().last?.text.split(separator: "\n").last ?? "")")
        }
        do {
            try SandboxJob.waitForAgent(endpoint: vmm.endpoint, deadline: monotonicNow() + Self.bootTimeout,
                                        ready: vmm.readySignal) { vmm.hasExited() }
            vmm.readySignal?.close()
        } catch {
            let ending = vmm.hasExited() ? " (the VMM ended: \(vmm.ending ?? "?"))" : ""
            vmm.end()
            throw .failed("the VM of \(id) did not start: \(error)\(ending)")
        }
        note("\(id): agent answered")
        let fifo = directory.file(ContainerStore.fifoName)
        guard mkfifo(fifo, 0o600) == 0 else {
            vmm.end()
            throw .system(operation: "mkfifo", path: fifo, errno: errno)
        }
        let relay: pid_t
        do {
            relay = try RelaySpawn.start(store: store, id: id, log: log, debug: debug, process: nil,
                                         terminal: config.process.terminal ? consoleSocket : nil,
                                         record: .identity(at: directory.file(CreationJournal.relayName)))
        } catch {
            vmm.end()
            throw error
        }
        TestStop.at("relay")
        guard let relayIdentity = ProcessIdentity.of(relay) else {
            vmm.end()
            throw .failed("the relay of \(id) ended at once")
        }
        let record = ContainerRecord(id: id, bundle: bundle, created: RuntimeLog.now(), annotations: config.annotations,
                                     relay: relayIdentity, vmm: vmmIdentity, netns: netns)
        if let err = FileText.write(directory.file(ContainerStore.recordName), record.json) {
            kill(relay, SIGKILL)
            vmm.end()
            throw .system(operation: "write", path: directory.file(ContainerStore.recordName), errno: err)
        }
        return relay
    }

    private func copyFile(_ source: String, to destination: String) throws(OCIRuntimeError) {
        guard let text = FileText.read(source, limit: 1 << 20 + 1) else { throw .system(operation: "read", path: source, errno: errno) }
        if let err = FileText.write(destination, text) { throw .system(operation: "write", path: destination, errno: err) }
    }

    static func hostMemoryMiB() -> Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, pageSize > 0 else { return 1 << 20 }
        return pages / 1024 * pageSize / 1024
    }
}

/// KILN_OCI_TEST_STOP_AT=POINT stops `create` (SIGSTOP to itself) at POINT, for a test to
/// SIGKILL it there and check that `delete --force` and `kiln gc` leave nothing: `tap-claimed`
/// (the TAP recorded, not yet persistent: it must vanish with the process), `tap`, `vmm` (the
/// VMM started, its agent not yet answered), `relay` (the relay started, container.json not
/// written). Tests only; unset, it costs one getenv per point.
enum TestStop {
    static func at(_ point: String) {
        guard let wanted = getenv("KILN_OCI_TEST_STOP_AT"), String(cString: wanted) == point else { return }
        raise(SIGSTOP)
    }
}

/// The guest kernel and agent initramfs: io.kiln.kernel, else $KILN_VMLINUX, else the kernel
/// `kiln setup` installed; the agent initramfs from $KILN_AGENT_INITRD or `kiln setup` (without
/// one the rootfs's own /sbin/init must be kiln-agent).
struct Assets {
    let kernel: String
    let agentInitrd: String?

    static func resolve(kernel annotated: String?) throws(OCIRuntimeError) -> Assets {
        let installed = GuestAssets.current()
        func environment(_ name: String) -> String? {
            guard let value = getenv(name).map({ String(cString: $0) }), !value.isEmpty else { return nil }
            return value
        }
        guard let kernel = annotated ?? environment("KILN_VMLINUX") ?? GuestAssets.readable(installed.kernel) else {
            throw .failed("no guest kernel: set the \(VMSize.kernelAnnotation) annotation or $KILN_VMLINUX, or install one with `kiln setup --kernel PATH`")
        }
        guard access(kernel, R_OK) == 0 else { throw .system(operation: "guest kernel", path: kernel, errno: errno) }
        let initrd = environment("KILN_AGENT_INITRD") ?? GuestAssets.readable(installed.agentInitrd)
        if let initrd, access(initrd, R_OK) != 0 { throw .system(operation: "agent initramfs", path: initrd, errno: errno) }
        return Assets(kernel: kernel, agentInitrd: initrd)
    }
}
