import ArgumentParser
import Glibc
import Sandbox
import SandboxHost

/// `kiln create --name N`: a VM that stays up for `kiln exec`/`kiln cp` until `kiln rm`.
struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Start a long-lived sandbox VM in the background.",
        discussion: """
            Boots the sandbox kernel and root filesystem as `kiln run` does, waits until its agent \
            answers, records it under the sandbox state directory ($KILN_SANDBOX_DIR, \
            /run/kiln/sandboxes as root, else $XDG_RUNTIME_DIR/kiln/sandboxes or \
            /tmp/kiln-sandboxes-UID) and exits. The VM keeps running until `kiln rm NAME`. \
            Writes go to a tmpfs overlay (or the --disk-size scratch disk) that lasts as long as the VM. With --net the sandbox's \
            TAP lives until `kiln rm` (its name and addresses are in the state directory's config).
            """)

    @Option(help: ArgumentHelp("The sandbox's name: letters, digits and '-', 1 to 64.", valueName: "name"))
    var name: String

    @OptionGroup var vm: VMOptions

    @Option(help: ArgumentHelp("Run this image (pulled into the image store if needed); `kiln exec` then applies its Env, WorkingDir and User.", valueName: "ref"))
    var image: String?

    @Option(name: .customLong("tls-verify"), help: "Verify the registry's TLS certificate when --image has to be pulled.")
    var tlsVerify: Bool = true

    @Option(help: ArgumentHelp("Start from this snapshot (`kiln snapshot NAME DIR`) instead of booting: its image, files, memory and vCPUs.", valueName: "dir"))
    var from: String?

    func run() throws {
        if let problem = SandboxStore.nameProblem(name) { fail("--name \(name): \(problem)") }
        vm.checkBootTimeout()
        if let from { try createFromSnapshot(from) }
        let stored = ImageOptions(image: image, tlsVerify: tlsVerify).storedImage() ?? ImageOptions.defaultImage(rootfs: vm.rootfs)
        let (kernel, rootfs, agentInitrd) = vm.resolve(imageRootfs: stored?.rootfsPath)
        let shares = vm.shares()
        ignoreOutputSignals()
        let store = SandboxStore.current()
        let directory = try store.claim(name)
        let jail = try vm.jail.plan(id: name, in: directory)
        let scratch = try vm.scratchDisk(in: directory)
        let tap = vm.net ? try TapRecord.create(in: directory, jail: jail) : nil
        let vmm = try VMMProcess.start(kernel: kernel, rootfs: rootfs, cpus: vm.cpus, memory: vm.memory,
                                   cid: Run.guestCID, seccomp: !vm.noSeccomp, directory: directory, detached: true,
                                   jail: jail, tap: tap, agentInitrd: agentInitrd, scratchDisk: scratch, shares: shares)
        guard let identity = ProcessIdentity.of(vmm.pid) else {
            vmm.stop()
            vmm.showLogs()
            try? directory.remove()
            fail("the VMM of sandbox \(name) ended at once")
        }
        _ = FileText.write(directory.file("created"), "\(time(nil))\n")
        _ = FileText.write(directory.file("config"),
                           "kernel=\(kernel)\nrootfs=\(Self.absolute(rootfs))\ncpus=\(vm.cpus)\nmemory=\(vm.memory)\n"
                               + (stored.map { "image=\($0.names.first ?? $0.id)\nimage-id=\($0.id)\n" } ?? "")
                               + (agentInitrd.map { "agent-initrd=\($0)\n" } ?? "") + (vm.diskSize.map { "disk-size=\($0)\n" } ?? "")
                               + shares.map { "volume=\($0.hostPath):\($0.guestPath)\n" }.joined()
                               + (tap.map { "net=\($0.name) host=\($0.hostAddress) guest=\($0.guestNetwork.address)\n" } ?? ""))
        try record(vmm, identity: identity, in: directory, restored: false)
    }

    /// `--from DIR`: the sandbox's VM restored from a snapshot.
    private func createFromSnapshot(_ from: String) throws -> Never {
        let (snapshot, _) = FromSnapshot.load(from, command: "create")
        ignoreOutputSignals()
        let store = SandboxStore.current()
        let directory = try store.claim(name)
        let jail = try vm.jail.plan(id: name, in: directory)
        let vmm = try VMMProcess.restore(snapshot, from: from, seccomp: !vm.noSeccomp, directory: directory,
                                         detached: true, jail: jail)
        guard let identity = ProcessIdentity.of(vmm.pid) else {
            vmm.stop()
            vmm.showLogs()
            try? directory.remove()
            fail("the VMM of sandbox \(name) ended at once")
        }
        _ = FileText.write(directory.file("created"), "\(time(nil))\n")
        _ = FileText.write(directory.file("config"), FromSnapshot.configText(snapshot, from: from))
        try record(vmm, identity: identity, in: directory, restored: true)
        throw ExitCode.success
    }

    /// Records the VMM, waits for the agent (telling a restored one so) and prints the name.
    private func record(_ vmm: VMMProcess, identity: ProcessIdentity, in directory: RunDirectory, restored: Bool) throws {
        if let err = FileText.write(directory.file("vmm"), identity.text) {
            vmm.stop()
            try? directory.remove()
            fail("cannot record sandbox \(name) in \(directory.path): \(String(cString: strerror(err)))")
        }
        do {
            if restored {
                try FromSnapshot.waitAndAnnounce(vmm, deadline: monotonicNow() + vm.bootTimeout) { vmm.hasExited() }
            } else {
                try SandboxJob.waitForAgent(endpoint: vmm.endpoint, deadline: monotonicNow() + vm.bootTimeout,
                                            ready: vmm.readySignal) {
                    vmm.hasExited()
                }
            }
            vmm.readySignal?.close()
        } catch {
            printError("kiln: error: sandbox \(name) did not start: \(error)\(vmm.hasExited() ? " (the VMM ended: \(vmm.ending ?? "?"))" : "")")
            vmm.stop()
            vmm.showLogs()
            try? directory.remove()
            throw ExitCode(125)
        }
        print(name)
    }

    /// `path` made absolute against the working directory (`kiln snapshot` runs elsewhere).
    static func absolute(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
