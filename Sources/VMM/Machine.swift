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
    let loop: EventLoop
    let stop: StopCoordinator
    /// Run on the main thread once every other thread has ended (e.g. remove vsock's socket file).
    private let teardown: [() -> Void]
    private let keepAlive: [AnyObject]

    init(config: VMConfig, vm: VirtualMachine, memory: GuestMemory, vcpus: [Vcpu], portBus: Bus, mmioBus: Bus,
         serial: Serial16550, console: ConsoleInput, loop: EventLoop, stop: StopCoordinator, teardown: [() -> Void] = [], keepAlive: [AnyObject]) {
        self.config = config
        self.vm = vm
        self.memory = memory
        self.vcpus = vcpus
        self.portBus = portBus
        self.mmioBus = mmioBus
        self.serial = serial
        self.console = console
        self.loop = loop
        self.stop = stop
        self.teardown = teardown
        self.keepAlive = keepAlive
    }

    /// Builds the VM described by `config`, runs it to the end and returns how it ended.
    public static func boot(_ config: VMConfig) throws(VMMError) -> VMOutcome {
        VcpuKickSignal.unblockAllSignals()
        let machine = try MachineBuilder.build(config)
        return try machine.run()
    }

    /// Until the VM stops, probes now and then whether every vCPU has halted for good.
    private func watchForHalt(_ detector: HaltDetector) {
        let probeIntervalMilliseconds = 250, settleMilliseconds = 20
        var haltedRounds = 0
        while !stop.waitForStop(milliseconds: probeIntervalMilliseconds) {
            detector.beginRound()
            stop.kickAll()
            if stop.waitForStop(milliseconds: settleMilliseconds) { break }
            // A dead halt lasts forever: require it in consecutive rounds, so a state seen only
            // in passing (or misreported once) never ends a running guest.
            haltedRounds = detector.allHalted ? haltedRounds + 1 : 0
            if haltedRounds >= 2 {
                stop.requestStop(.poweredOff(reason: "every vCPU halted with interrupts disabled"))
            }
        }
    }

    /// Starts one thread per vCPU and the console input thread; returns when the VM stops.
    func run() throws(VMMError) -> VMOutcome {
        VcpuKickSignal.install()
        var threads: [NativeThread] = []
        let haltDetector = HaltDetector(vcpuCount: vcpus.count)
        for vcpu in vcpus {
            let runner = VcpuRunner(vcpu: vcpu, portBus: portBus, mmioBus: mmioBus, stop: stop,
                                    haltDetector: haltDetector)
            let thread: NativeThread
            do {
                thread = try NativeThread.spawn(name: "kiln_vcpu\(vcpu.id)") { [stop, config] in
                    guard ThreadConfinement.enter(.vcpu, enabled: config.seccomp, stop: stop) else { return }
                    _ = runner.run()
                }
            } catch {
                stop.requestStop(.failed("\(error)"))
                threads.forEach { $0.join() }
                throw error
            }
            stop.register(vcpu: vcpu, thread: thread)
            threads.append(thread)
        }
        let devices = loop
        if config.forwardsStandardInput {
            try console.attach(serial: serial, to: devices, stop: stop)
        }
        let deviceThread = try NativeThread.spawn(name: "kiln_devices") { [stop, config] in
            guard ThreadConfinement.enter(.devices, enabled: config.seccomp, stop: stop) else { return }
            devices.run()
        }
        // Last: threads spawned after this would inherit the control filter on top of their own.
        if ThreadConfinement.enter(.control, enabled: config.seccomp, stop: stop) {
            watchForHalt(haltDetector)
        }
        threads.forEach { $0.join() }
        devices.stop()
        deviceThread.join()
        teardown.forEach { $0() }
        serial.flush()
        return stop.result ?? .stopped
    }
}
