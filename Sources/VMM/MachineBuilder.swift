import CKiln
import Devices
import GuestMemory
import KVM
import X86Boot
#if canImport(Glibc)
import Glibc
#endif

/// Builds a `Machine` from a `VMConfig`: validate everything first, then create KVM state,
/// load the kernel, configure the boot, and wire the legacy devices onto the buses.
enum MachineBuilder {
    static let i8042Port: UInt64 = 0x60
    /// The PC keyboard's ISA IRQ, for SendCtrlAltDel.
    static let keyboardGSI: UInt32 = 1

    static func build(_ config: VMConfig) throws(VMMError) -> Machine {
        let kvm: Kvm
        do {
            kvm = try Kvm()
            try kvm.checkRequiredCapabilities()
        } catch { throw .kvm(error) }
        try config.validate(maxVcpus: maxVcpus(kvm), hostMemoryMiB: VMConfig.hostMemoryMiB())
        BootClock.markStep("kvm")
        let stop = StopCoordinator()
        // The VM's threads start now and load their filters on the other core while this one
        // builds; before that vCPU 0's thread reads what KVM supports (HostSupport). They are
        // ready before any vCPU runs.
        let host = HostSupport()
        let threads = try VMThreads.spawn(vcpuCount: config.vcpuCount, driveCount: config.drives.count,
                                          seccomp: config.seccomp, stop: stop) {
            () throws(VMMError) in
            do throws(KVMError) { try host.read(from: kvm) } catch { throw .kvm(error) }
        }
        // A build that fails from here on must not leave them waiting (one of them unconfined).
        var handedOver = false
        defer { if !handedOver { threads.dismiss() } }
        BootClock.markStep("threads")

        let kernelImage = try MappedFile(path: config.kernelPath)
        let initrdImage = try config.initrdPath.map { (path) throws(VMMError) in try MappedFile(path: path) }
        BootClock.markStep("map")

        let memory: GuestMemory
        do {
            memory = try GuestMemory(layout: GuestRAM.layout(mebibytes: UInt64(config.memoryMiB)))
        } catch let error as BootError {
            throw .boot(error.description)
        } catch let error as GuestMemoryError {
            throw .memory(error)
        } catch { throw .boot("\(error)") }
        BootClock.markStep("memory")

        let vm = try createVM(kvm, memory: memory, logDirtyPages: config.trackDirtyPages)
        if config.trackDirtyPages { memory.startDeviceWriteLog() }
        // Here, not on a thread of its own: KVM_CREATE_PIT2 waits for kthreadd to start the PIT's
        // worker, ~0.1 ms with a core free for it; beside this thread and another busy on both
        // cores it took 1-4 ms and held up the start.
        do { try vm.createPIT2() } catch { throw .kvm(error) }
        BootClock.markStep("vm")

        let loops = try DeviceLoops(driveCount: config.drives.count)
        let virtio = try VirtioDevices.attach(try virtioDevices(config), vm: vm, memory: memory, loops: loops)
        // Appended one by one: `joined(separator:)` looks up an associated type at run time,
        // which cost a scan of every protocol conformance in the binary at start-up.
        var commandLine = config.commandLine
        if !config.acpi { for entry in virtio.commandLineEntries { commandLine += " " + entry } }
        BootClock.markStep("virtio")

        let boot: BootSetup
        do {
            let kernel = try KernelLoader.load(kernelImage.bytes, into: memory)
            boot = try BootConfigurator.configure(memory: memory, kernel: kernel, initrd: initrdImage?.bytes,
                                                  commandLine: commandLine, vcpuCount: config.vcpuCount)
        } catch { throw .boot("\(config.kernelPath): \(error)") }
        BootClock.markStep("load")
        var generation: VMGeneration?
        if config.acpi {
            generation = VMGeneration(memory: memory, line: try IRQFDLine(vm: vm, gsi: ACPILayout.gedGSI))
            try generation?.writeNewID()
            // Minimal ACPI (hardware-reduced FADT with a sleep register, MADT, a DSDT with \_S5,
            // COM1, pvpanic and the virtio devices) gives a Linux guest a power-off path and a
            // way to report panics.
            do {
                try ACPITables.write(vcpuCount: config.vcpuCount, virtioDevices: virtio.acpiDevices, to: memory)
            } catch { throw .boot("ACPI tables: \(error)") }
        }

        let legacy = try legacyDevices(config, vm: vm, stop: stop)
        var inventory = DeviceInventory()
        for entry in virtio.entries { try inventory.add(entry) }
        for entry in legacy.entries { try inventory.add(entry) }
        var portBus = Bus(space: .portIO), mmioBus = Bus(space: .mmio)
        try inventory.place(portBus: &portBus, mmioBus: &mmioBus)
        BootClock.markStep("devices")

        guard try threads.vcpus[0].waitUntilReady(milliseconds: 10_000) else {
            throw .thread(operation: "read KVM's supported CPUID (not done within 10 s)", errno: ETIMEDOUT)
        }
        let hostMSRs = host.msrIndexList
        var vcpus: [Vcpu] = []
        let supported = host.cpuid.map(CPUIDConversion.entry)
        for index in 0..<config.vcpuCount {
            let cpuid: [CPUIDEntry]
            do {
                cpuid = try CPUID.adjust(supported, vcpuIndex: index, vcpuCount: config.vcpuCount)
            } catch { throw .boot("CPUID for vCPU \(index): \(error)") }
            do {
                let vcpu = try vm.createVcpu(id: UInt32(index))
                try vcpu.setCPUID(cpuid.map(CPUIDConversion.kvmEntry))
                if index == 0 {
                    try BootVcpuSetup.apply(boot.cpu, to: vcpu, hostMSRs: hostMSRs)
                } else {
                    try BootVcpuSetup.applyCommon(boot.cpu, to: vcpu, hostMSRs: hostMSRs)
                }
                try vcpu.configureLocalInterrupts()
                vcpus.append(vcpu)
            } catch { throw .kvm(error) }
        }

        BootClock.markStep("vcpus")
        // Generous: under load the threads may wait long for a core.
        guard try threads.waitUntilReady(milliseconds: 10_000) else {
            throw .thread(operation: "start the VM's threads (not confined within 10 s)", errno: ETIMEDOUT)
        }

        let coreDump = try config.guestCoreOnTripleFault.map { (path) throws(VMMError) in try GuestCoreDump(path: path) }
        handedOver = true
        return Machine(config: config, vm: vm, memory: memory, vcpus: vcpus, portBus: portBus, mmioBus: mmioBus,
                       serial: legacy.serial, console: legacy.console, loops: loops, stop: stop, i8042: legacy.i8042,
                       inventory: inventory, keepAlive: [kvm, kernelImage], generation: generation,
                       snapshotSupport: SnapshotSupport(vcpu: vm.stateSupport(), hostMSRIndexList: hostMSRs),
                       coreDump: coreDump, threads: threads)
    }

    /// A VM with `memory` in its slots, the TSS and identity map placed and the in-kernel
    /// irqchip made (the PIT is the caller's: a restored one takes its saved state).
    static func createVM(_ kvm: Kvm, memory: GuestMemory, logDirtyPages: Bool) throws(VMMError) -> VirtualMachine {
        do {
            let vm = try kvm.createVM()
            // Memory slots go in before the irqchip: once it exists, every slot change waits
            // for an SRCU grace period (measured here: 5-8 ms per slot after, 0.1 ms before).
            for (slot, region) in memory.regions.enumerated() {
                try vm.setUserMemoryRegion(slot: UInt32(slot), guestAddress: region.start.rawValue,
                                           size: region.size, hostAddress: region.host, logDirtyPages: logDirtyPages)
            }
            try vm.setTSSAddress(Layout.kvmTSS)
            try vm.setIdentityMapAddress(Layout.kvmIdentityMap)
            try vm.createIRQChip()
            return vm
        } catch { throw .kvm(error) }
    }

    struct LegacyDevices {
        let serial: Serial16550
        let console: ConsoleInput
        let i8042: I8042
        let entries: [DeviceEntry]
    }

    /// The serial port (and the console that feeds it), i8042, ACPI sleep control, pvpanic and
    /// the boot timer, wired to `stop`, with their windows.
    static func legacyDevices(_ config: VMConfig, vm: VirtualMachine, stop: StopCoordinator) throws(VMMError) -> LegacyDevices {
        let serialLine = try IRQFDLine(vm: vm, gsi: ACPILayout.serialGSI)
        let output = try SerialSink.open(config.serialOutputPath, limit: config.serialOutputLimit)
        let console = try ConsoleInput(seccomp: config.seccomp)
        let serial = Serial16550(interrupt: serialLine, output: output,
                                 onReceiveSpace: { console.receiveSpaceAvailable() })
        let keyboardLine = try IRQFDLine(vm: vm, gsi: keyboardGSI)
        let i8042 = I8042(keyboardInterrupt: keyboardLine, onReset: { stop.requestStop(.reset(reason: "i8042 reset")) })
        let bootTimer = BootTimer(onBootComplete: { BootClock.reportBootComplete() })
        let sleepControl = ACPISleepControl(onPowerOff: { stop.requestStop(.poweredOff(reason: "ACPI S5")) })
        let pvpanic = PvPanic(onPanic: { events in
            stop.requestStop(.guestCrashed(reason: "kernel panic reported through pvpanic, events 0x\(String(events, radix: 16))"))
        })

        let legacy: [(DeviceID, DeviceKind, DeviceWindow, IRQFDLine?)] = [
            (.legacy("serial"), .serial(serial),
             DeviceWindow(space: .portIO, base: UInt64(ACPILayout.serialPort), length: Serial16550.registerCount), serialLine),
            (.legacy("i8042"), .i8042(i8042), DeviceWindow(space: .portIO, base: i8042Port, length: I8042.windowLength), keyboardLine),
            (.legacy("acpi-sleep"), .sleepControl(sleepControl),
             DeviceWindow(space: .portIO, base: ACPILayout.sleepControlPort, length: ACPILayout.sleepControlSize), nil),
            (.legacy("pvpanic"), .pvpanic(pvpanic),
             DeviceWindow(space: .portIO, base: ACPILayout.pvpanicPort, length: ACPILayout.pvpanicSize), nil),
            (.legacy("boot-timer"), .bootTimer(bootTimer),
             DeviceWindow(space: .mmio, base: Layout.bootMarker.rawValue, length: Layout.bootMarkerSize), nil),
        ]
        let entries = legacy.map { id, kind, window, interrupt in
            DeviceEntry(id: id, kind: kind, window: window, interrupt: interrupt, virtio: nil)
        }
        return LegacyDevices(serial: serial, console: console, i8042: i8042, entries: entries)
    }

    /// The virtio devices `config` asks for, with their ids, in bus order: drives first, then
    /// entropy, then network interfaces (each TAP opened here, before any filter is in place),
    /// then vsock, then the shared directories (each root opened here, before any filter).
    static func virtioDevices(_ config: VMConfig) throws(VMMError) -> [(id: DeviceID, kind: DeviceKind)] {
        var devices: [(id: DeviceID, kind: DeviceKind)] = []
        for (index, drive) in config.drives.enumerated() {
            do {
                let backend = try FileBlockBackend(path: drive.path, readOnly: drive.readOnly)
                // The ring is set up here, on the VMM thread before any seccomp filter.
                let block = Block(backend: backend, serial: "kiln-drive\(index)",
                                  rateLimiter: try RateLimiter(drive.rateLimiter), engine: drive.ioEngine)
                if let fallback = block.ioEngineFallback {
                    var line = "kiln: drive \(drive.path): \(fallback)\n"
                    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
                }
                devices.append((.drive(config.driveID(index)), .block(block)))
            } catch { throw .invalidConfiguration("drive \(drive.path): \(error)") }
        }
        if config.entropy {
            do {
                devices.append((.entropy, .rng(Rng(rateLimiter: try RateLimiter(config.entropyRateLimiter)))))
            } catch { throw .invalidConfiguration("entropy: \(error)") }
        }
        for interface in config.networkInterfaces {
            let mac = try interface.resolvedMAC()
            do {
                let net = Net(backend: try Tap(name: interface.tapName), mac: mac,
                              receiveRateLimiter: try RateLimiter(interface.receiveRateLimiter),
                              transmitRateLimiter: try RateLimiter(interface.transmitRateLimiter))
                devices.append((.interface(interface.id), .net(net)))
            } catch { throw .invalidConfiguration("network interface \(interface.id): \(error)") }
        }
        if let vsock = config.vsock {
            do {
                devices.append((.vsock, .vsock(try Vsock(guestCID: vsock.guestCID, udsPath: vsock.udsPath))))
            } catch { throw .invalidConfiguration("vsock: \(error)") }
        }
        if !config.sharedDirectories.isEmpty {
            let rlimit = SharedDirectoryConfig.descriptorLimit()
            guard let limits = SharedDirectoryConfig.limits(shares: config.sharedDirectories.count, descriptorLimit: rlimit) else {
                throw .invalidConfiguration("\(config.sharedDirectories.count) shared directories do not fit "
                                            + "RLIMIT_NOFILE \(rlimit): raise it (kiln-jailer --resource-limit no-file=N)")
            }
            for share in config.sharedDirectories {
                do {
                    let fs = try Fs(tag: share.tag, sharedDirectory: share.hostPath, limits: limits)
                    devices.append((.share(share.tag), .fs(fs)))
                } catch { throw .invalidConfiguration("shared directory \(share.hostPath): \(error)") }
            }
        }
        return devices
    }

    /// The most vCPUs both KVM and the MP table allow.
    static func maxVcpus(_ kvm: Kvm) -> Int {
        let kvmMaxVcpus: Int32 = 66, kvmRecommendedVcpus: Int32 = 9
        let host = max(kvm.extensionValue(kvmMaxVcpus), kvm.extensionValue(kvmRecommendedVcpus), 1)
        return min(Int(host), BootConfigurator.maxVcpus)
    }
}

/// Between KVM's `kvm_cpuid_entry2` and X86Boot's plain `CPUIDEntry`.
enum CPUIDConversion {
    static func entry(_ raw: kvm_cpuid_entry2) -> CPUIDEntry {
        CPUIDEntry(function: raw.function, index: raw.index, flags: raw.flags,
                   eax: raw.eax, ebx: raw.ebx, ecx: raw.ecx, edx: raw.edx)
    }

    static func kvmEntry(_ entry: CPUIDEntry) -> kvm_cpuid_entry2 {
        var raw = kvm_cpuid_entry2()
        raw.function = entry.function
        raw.index = entry.index
        raw.flags = entry.flags
        raw.eax = entry.eax
        raw.ebx = entry.ebx
        raw.ecx = entry.ecx
        raw.edx = entry.edx
        return raw
    }
}
