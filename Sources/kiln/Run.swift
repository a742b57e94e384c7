import AgentProtocol
import ArgumentParser
import CHost
import Glibc
import Sandbox
import SandboxHost
import VMM

/// `kiln run -- CMD`: a throwaway VM from the sandbox kernel and root filesystem, CMD run in it
/// by kiln-agent with its output streamed here, and kiln's exit status is CMD's.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command in a throwaway microVM and exit with its status.",
        discussion: """
            The VM boots the sandbox kernel (--kernel, else $KILN_VMLINUX, else the one `kiln \
            setup` installed) and a root filesystem: --image REF (pulled if missing), --rootfs \
            FILE, $KILN_SANDBOX_ROOTFS, else the default image kiln.local/default:latest (a Debian \
            image with python3, see Rootfs/). \
            The image is attached read-only and the guest writes to a tmpfs overlay, so runs can \
            share it and none changes it. Exit status: the command's, 128+N when signal N ended \
            it, 124 on --timeout, 127/126 when it cannot be started, 125 when the sandbox fails. \
            Ctrl-C is forwarded to the command as SIGINT; a second Ctrl-C ends the VM. \
            --net (root only) gives the guest eth0 on a point-to-point link to a host TAP \
            kilntap<k> (host 172.31.0.1 and guest 172.31.0.2 for k = 0, the next /30 for each k), \
            deleted when the run ends; kiln adds no NAT or forwarding (see README).
            """)

    @OptionGroup var vm: VMOptions

    @Option(help: ArgumentHelp("End the VM after this many seconds and exit 124.", valueName: "s"))
    var timeout: UInt32?

    @Flag(help: .hidden)
    var reportTiming = false

    @OptionGroup var sandbox: SandboxOptions

    @OptionGroup var imageOptions: ImageOptions

    @Option(help: ArgumentHelp("Start from this snapshot (`kiln snapshot NAME DIR`) instead of booting: its image, files, memory and vCPUs.", valueName: "dir"))
    var from: String?

    /// The guest's vsock context id (any value >= 3 works: each VM has its own device).
    static let guestCID: UInt32 = 3
    func run() throws {
        if let timeout, timeout == 0 { fail("--timeout must be at least 1 second") }
        vm.checkBootTimeout()
        if let from { try runFromSnapshot(from) }
        let imageStarted = monotonicNow()
        let image = imageOptions.storedImage() ?? ImageOptions.defaultImage(rootfs: vm.rootfs)
        let job = sandbox.job(image: image, entrypoint: imageOptions.entrypoint)
        let imageSeconds = image == nil ? nil : monotonicNow() - imageStarted
        let (kernelPath, rootfsPath, agentInitrd) = vm.resolve(imageRootfs: image?.rootfsPath)
        let shares = vm.shares()
        let (started, directory, jail) = try prepare(job)
        let scratch = try vm.scratchDisk(in: directory)
        let tap = vm.net ? try TapRecord.create(in: directory, jail: jail) : nil
        let vmm = try VMMProcess.start(kernel: kernelPath, rootfs: rootfsPath, cpus: vm.cpus, memory: vm.memory,
                                   cid: Self.guestCID, seccomp: !vm.noSeccomp, directory: directory,
                                   jail: jail, tap: tap, agentInitrd: agentInitrd, scratchDisk: scratch, shares: shares)
        var timing = RunTiming(started: started)
        timing.imageSeconds = imageSeconds
        try finish(job, vmm: vmm, directory: directory, timing: timing, restored: false)
    }

    /// `--from DIR`: the VM restored from a snapshot, the job run as in a booted one.
    private func runFromSnapshot(_ from: String) throws -> Never {
        let (snapshot, image) = FromSnapshot.load(from, command: "run")
        let job = sandbox.job(image: image)
        let (started, directory, jail) = try prepare(job)
        let vmm = try VMMProcess.restore(snapshot, from: from, seccomp: !vm.noSeccomp, directory: directory, jail: jail)
        try finish(job, vmm: vmm, directory: directory, timing: RunTiming(started: started), restored: true)
    }

    /// What a run does before its VMM starts, booted or restored: the copy-in sources must be
    /// readable, output signals are ignored, stale runs removed; then the run directory and the
    /// jail planned in it. `started` is when the run's timing begins.
    private func prepare(_ job: SandboxJob) throws -> (started: Double, directory: RunDirectory, jail: JailPlan?) {
        for copy in job.copyIn where access(copy.source, R_OK) != 0 {
            fail("--copy-in \(copy.source): \(String(cString: strerror(errno)))")
        }
        ignoreOutputSignals()
        Leftovers.removeStaleRuns().forEach(warn)
        let started = monotonicNow()
        let directory = try RunDirectory.create()
        return (started, directory, try vm.jail.plan(id: "run-\(getpid())", in: directory))
    }

    /// Runs the job in the started VM, ends the VM and exits with the job's status.
    private func finish(_ job: SandboxJob, vmm: VMMProcess, directory: RunDirectory, timing: RunTiming,
                        restored: Bool) throws -> Never {
        var timing = timing
        var forward: [Int32] = [-1, -1]
        guard kiln_host_pipe(&forward) == 0 else { fail("pipe: \(String(cString: strerror(errno)))") }
        _ = fcntl(forward[1], F_SETFL, O_NONBLOCK)
        kiln_run_install_signal_handlers(forward[1], vmm.pid)
        if let timeout { alarm(timeout) }

        let exit = Self.runJob(job, vmm: vmm, signals: forward[0], timeout: timeout, restored: restored,
                               bootTimeout: vm.bootTimeout, timing: &timing)
        alarm(0)
        timing.commandDone = monotonicNow()
        // The VM is throwaway: its image is attached read-only and its writes live in the guest's
        // tmpfs, and the command's output and copy-outs are in hand, so there is nothing to
        // flush. Killing it skips the guest's shutdown (the agent's power-off, ACPI, the VMM's exit).
        // Whether the agent announced itself at all: the way the host found it may still be its
        // own attempt when that coincided with the announcement.
        timing.agentAnnounced = vmm.readySignal?.hasAnnounced()
        vmm.readySignal?.close()
        vmm.end()
        if exit.code == CommandExitCode.kilnFailure { vmm.showLogs() }
        if reportTiming { timing.report(vmmLines: vmm.timingLines()) }
        do { try directory.remove() } catch { warn(error) }
        throw ExitCode(exit.code)
    }

    /// Waits for the agent, runs the job and says how `kiln run` ends (its message printed).
    private static func runJob(_ job: SandboxJob, vmm: VMMProcess, signals: Int32, timeout: UInt32?, restored: Bool, bootTimeout: Double,
                               timing: inout RunTiming) -> CommandExit {
        let exit: CommandExit
        do {
            let givesUp = { kiln_run_timed_out() != 0 || kiln_run_interrupts() > 1 || vmm.hasExited() }
            // The session that found a booted guest's agent carries the job's first request.
            var first: ReadySession?
            if restored {
                try FromSnapshot.waitAndAnnounce(vmm, deadline: monotonicNow() + bootTimeout, givesUp: givesUp)
            } else {
                let session = try SandboxJob.openSession(endpoint: vmm.endpoint, deadline: monotonicNow() + bootTimeout,
                                                         ready: vmm.readySignal, givesUp: givesUp)
                timing.agentFound = session.found
                first = consume session
            }
            timing.agentReady = monotonicNow()
            // --timeout's alarm kills the VMM, which ends every session; the deadline is the
            // backstop should anything still wait after that.
            exit = .ran(try job.run(endpoint: vmm.endpoint, signals: signals, limits: .within(timeout.map { Double($0) + 5 }),
                                    first: first.take()))
        } catch {
            let failure = CommandExit.RunFailure(hasTimeout: timeout != nil, alarmFired: kiln_run_timed_out() != 0,
                                                 interrupts: kiln_run_interrupts(), agentAnswered: timing.agentReady != nil,
                                                 vmmEnding: vmm.hasExited() ? vmm.ending ?? "?" : nil)
            exit = .run(error, failure)
        }
        if let message = exit.message { printError(message) }
        return exit
    }
}

/// Where a run's time goes (--report-timing; the sandbox benchmark reads it).
struct RunTiming {
    let started: Double
    var agentReady: Double?
    var agentFound: SandboxJob.AgentFound?
    var agentAnnounced: Bool?
    var commandDone: Double?
    /// `--image`: looking the image up in the store and shaping the job from its config.
    var imageSeconds: Double?

    func report(vmmLines: String?) {
        let end = monotonicNow()
        func ms(_ a: Double?, _ b: Double?) -> String {
            guard let a, let b else { return "-" }
            let tenths = Int(((b - a) * 10_000).rounded())
            return "\(tenths / 10).\(tenths % 10)"
        }
        printError("kiln: timing: agent-ready-ms \(ms(started, agentReady)) command-ms \(ms(agentReady, commandDone)) "
                   + "stop-ms \(ms(commandDone, end)) total-ms \(ms(started, end)) agent-found \(agentFound?.rawValue ?? "-") "
                   + "agent-announced \(agentAnnounced.map { $0 ? "yes" : "no" } ?? "-")"
                   + (imageSeconds.map { " image-ms \(ms(0, $0))" } ?? "")
                   + (vmmLines.map { "; \($0)" } ?? ""))
    }
}
