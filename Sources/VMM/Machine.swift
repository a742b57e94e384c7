import CKiln
import Devices
import GuestMemory
import KVM
import X86Boot
#if canImport(Glibc)
import Glibc
#endif

/// One running microVM: KVM state, guest memory, devices and the threads that drive them.
public final class Machine: @unchecked Sendable {
    let config: VMConfig
    let vm: VirtualMachine
    let memory: GuestMemory
    let vcpus: [Vcpu]
    let portBus: Bus
    let mmioBus: Bus
    let serial: Serial16550
    let console: ConsoleInput
    /// The device loop and each drive's own.
    let loops: DeviceLoops
    /// The device loop: every device but the drives, and standard input.
    var loop: EventLoop { loops.shared }
    let stop: StopCoordinator
    /// Every device, keyed by id, in bus order.
    let inventory: DeviceInventory
    private let keepAlive: [AnyObject]
    private let coreDump: GuestCoreDump?
    /// The VM generation ID (with ACPI): renewed and announced when a snapshot is restored.
    let generation: VMGeneration?
    let snapshotSupport: SnapshotSupport
    /// Set on a restored machine: the guest is told its generation changed once it runs.
    var announcesNewGeneration = false

    init(config: VMConfig, vm: VirtualMachine, memory: GuestMemory, vcpus: [Vcpu], portBus: Bus, mmioBus: Bus,
         serial: Serial16550, console: ConsoleInput, loops: DeviceLoops, stop: StopCoordinator, i8042: I8042,
         inventory: DeviceInventory, keepAlive: [AnyObject], generation: VMGeneration? = nil,
         snapshotSupport: SnapshotSupport, coreDump: GuestCoreDump? = nil, threads: VMThreads? = nil) {
        self.standbyThreads = threads
        self.snapshotSupport = snapshotSupport
        self.coreDump = coreDump
        self.generation = generation
        self.i8042 = i8042
        self.inventory = inventory
        haltDetector = HaltDetector(vcpuCount: vcpus.count)
        self.config = config
        self.vm = vm
        self.memory = memory
        self.vcpus = vcpus
        self.portBus = portBus
        self.mmioBus = mmioBus
        self.serial = serial
        self.console = console
        self.loops = loops
        self.stop = stop
        self.keepAlive = keepAlive
    }

    private let i8042: I8042
    private let pauseGate = PauseGate()
    private let haltDetector: HaltDetector
    private(set) var runners: [VcpuRunner] = []
    private var vcpuThreads: [NativeThread] = []
    private var deviceThread: NativeThread?
    private var driveThreads: [NativeThread] = []
    /// The threads the builder started, until `start` gives them their work.
    private var standbyThreads: VMThreads?
    /// False when the VMM thread's own filter could not be installed (the VM is then stopping).
    private var supervising = false
    public private(set) var isPaused = false

    /// Builds the VM described by `config`, runs it to the end and returns how it ended.
    public static func boot(_ config: VMConfig) throws(VMMError) -> VMOutcome {
        let machine = try build(config)
        try machine.start()
        return machine.waitUntilStopped()
    }

    /// Creates every KVM object, loads the kernel and wires the devices; no guest code runs yet.
    public static func build(_ config: VMConfig) throws(VMMError) -> Machine {
        BootClock.markBuildStart()
        VcpuKickSignal.unblockAllSignals()
        return try MachineBuilder.build(config)
    }

    /// Until the VM stops, probes now and then whether every vCPU has halted for good.
    private func watchForHalt(idle: (Int) -> Void) {
        let probeIntervalMilliseconds = 250, settleMilliseconds = 20
        var haltedRounds = 0
        var lastActivity = activity
        while !stop.waitForStop(milliseconds: probeIntervalMilliseconds, idle: idle) {
            // A paused vCPU is parked outside KVM_RUN: nothing to probe.
            if isPaused { haltedRounds = 0; continue }
            // A vCPU halted for good makes no exits and no queue notifications: while either
            // happens the guest is alive, and is left alone (no signal, no register reads in the
            // middle of its I/O; heavy virtio traffic goes through ioeventfd/irqfd, no exits).
            let now = activity
            if now != lastActivity {
                lastActivity = now
                haltedRounds = 0
                continue
            }
            haltDetector.beginRound()
            stop.kickAll()
            if stop.waitForStop(milliseconds: settleMilliseconds, idle: idle) { break }
            // A dead halt lasts forever: require it in consecutive rounds, so a state seen only
            // in passing (or misreported once) never ends a running guest.
            haltedRounds = haltDetector.allHalted ? haltedRounds + 1 : 0
            if haltedRounds >= 2 {
                stop.requestStop(.poweredOff(reason: "every vCPU halted with interrupts disabled"))
            }
            lastActivity = activity
        }
    }

    /// Exits of all vCPUs other than kicks, and virtio queue events and interrupts.
    private var activity: UInt64 {
        runners.reduce(0) { $0 &+ $1.exits.activity } &+ inventory.virtioActivity
    }

    /// A machine that never started ends the threads waiting for its work.
    deinit { standbyThreads?.dismiss() }

    /// Gives the device thread and one thread per vCPU their work (started by the builder, or
    /// now), then confines the calling (VMM) thread. Nothing may spawn threads from the calling
    /// thread after this.
    public func start(paused: Bool = false) throws(VMMError) {
        VcpuKickSignal.install()
        let gate = pauseGate
        stop.onStop { gate.wakeAll() }
        let threads: VMThreads
        if let standbyThreads {
            threads = standbyThreads
            self.standbyThreads = nil
        } else {
            threads = try VMThreads.spawn(vcpuCount: vcpus.count, driveCount: loops.drives.count,
                                          seccomp: config.seccomp, stop: stop)
        }
        // A thread reports once its filter is in (or it gave up), so that start() returns (and
        // InstanceStart answers) only when no thread of the VM is unconfined.
        let confined = StartLatch()
        var consoleThreads = 0
        if config.forwardsStandardInput {
            do {
                let spawned = try console.attach(serial: serial, to: loop, stop: stop) { confined.arrive() }
                consoleThreads = spawned ? 1 : 0
            } catch {
                threads.dismiss()
                throw error
            }
        }
        // The device thread, the only one that may keep a capability (ThreadCapabilities), exists:
        // this thread gives its capabilities up.
        ThreadCapabilities.dropFromCallingThread()
        for (vcpu, thread) in zip(vcpus, threads.vcpus) {
            runners.append(VcpuRunner(vcpu: vcpu, portBus: portBus, mmioBus: mmioBus, stop: stop,
                                      haltDetector: haltDetector, pauseGate: pauseGate))
            stop.register(vcpu: vcpu, thread: thread.native)
            vcpuThreads.append(thread.native)
        }
        deviceThread = threads.devices.native
        driveThreads = threads.drives.map(\.native)
        if paused {
            // The vCPUs park before their first KVM_RUN: a restored VM waits for resume.
            pauseGate.hold()
            isPaused = true
        }
        // The threads get their work, and the guest runs, only once every thread of the VM,
        // this one included, is confined.
        supervising = ThreadConfinement.enter(.control, enabled: config.seccomp, stop: stop)
        _ = confined.wait(for: consoleThreads, milliseconds: 2000)
        _ = try? threads.waitUntilReady(milliseconds: 2000)
        // The vCPUs first: they are what start-up waits for. Notifications they make before the
        // device loop runs wait in its eventfds.
        for (runner, thread) in zip(runners, threads.vcpus) {
            thread.assign { _ = runner.run() }
        }
        let loop = self.loop
        threads.devices.assign { loop.run() }
        for (thread, driveLoop) in zip(threads.drives, loops.drives) {
            thread.assign { driveLoop.run() }
        }
        if !paused { announceGenerationIfRestored() }
    }

    /// A restored guest learns it is a new generation once its vCPUs run (the GED interrupt
    /// wakes its vmgenid driver, which reseeds the kernel's random number generator).
    private func announceGenerationIfRestored() {
        guard announcesNewGeneration else { return }
        announcesNewGeneration = false
        generation?.notifyGuest()
    }

    /// Supervises the VM until it stops, then joins its threads and returns how it ended.
    /// `idle` is called with a number of milliseconds to wait (the API serves requests there).
    public func waitUntilStopped(idle: (Int) -> Void = { usleep(UInt32($0) * 1000) }) -> VMOutcome {
        if supervising { watchForHalt(idle: idle) }
        vcpuThreads.forEach { $0.join() }
        loops.stop()
        deviceThread?.join()
        driveThreads.forEach { $0.join() }
        if let coreDump {
            if runners.contains(where: { $0.exits.value(.shutdown) > 0 }) {
                var line = "kiln: " + coreDump.write(memory) + "\n"
                line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
            }
            coreDump.close()
        }
        inventory.tearDown()
        serial.flush()
        return stop.result ?? .stopped
    }

    /// Stops every vCPU outside KVM_RUN (devices keep running, as in Firecracker).
    public func pause() throws(VMMError) {
        guard !isPaused else { return }
        isPaused = true
        let parked = pauseGate.pause(vcpuCount: vcpus.count, milliseconds: 2000) {
            for vcpu in vcpus { vcpu.requestExit() }
            stop.kickAll()
        }
        guard parked else {
            resume()
            throw .invalidState("vCPUs did not stop within 2 s")
        }
    }

    public func resume() {
        guard isPaused else { return }
        isPaused = false
        pauseGate.resume()
        announceGenerationIfRestored()
    }

    /// Firecracker's SendCtrlAltDel: the scan codes go to the i8042, whose IRQ 1 the guest's
    /// keyboard driver turns into an orderly reboot.
    public func sendCtrlAltDel() throws(VMMError) {
        guard i8042.pressCtrlAltDel() else { throw .invalidState("the i8042 output buffer is full") }
    }
}
