import Devices
import KVM

/// The vCPU loop, an explicit state machine: `running` until an exit says the VM should end
/// (or another thread asks it to), then `exited` with the outcome.
/// It allocates nothing per exit: exits borrow the `kvm_run` area and buses dispatch in place.
final class VcpuRunner: @unchecked Sendable {
    enum State { case running, exited(VMOutcome) }

    let vcpu: Vcpu
    private let portBus: Bus
    private let mmioBus: Bus
    private let stop: StopCoordinator
    private let haltDetector: HaltDetector
    private let pauseGate: PauseGate
    let exits = VcpuExitCounters()
    private(set) var state: State = .running
    /// Accesses no device claimed; the guest probing absent hardware is normal, so these are
    /// counted rather than logged.
    private(set) var unhandledPortAccesses: UInt64 = 0
    private(set) var unhandledMMIOAccesses: UInt64 = 0
    private(set) var exitCount: UInt64 = 0
    /// The last exit was I/O or MMIO, which KVM completes on the next KVM_RUN.
    private var exitPending = false

    init(vcpu: Vcpu, portBus: Bus, mmioBus: Bus, stop: StopCoordinator, haltDetector: HaltDetector,
         pauseGate: PauseGate) {
        self.vcpu = vcpu
        self.pauseGate = pauseGate
        self.haltDetector = haltDetector
        self.portBus = portBus
        self.mmioBus = mmioBus
        self.stop = stop
    }

    /// Runs until the VM stops; the outcome is also reported to the stop coordinator.
    func run() -> VMOutcome {
        // Splits boot time into VMM set-up (until here) and guest (until the boot marker).
        if vcpu.id == 0 { BootClock.reportFirstEntry() }
        while case .running = state {
            if stop.isStopping {
                state = .exited(stop.result ?? .stopped)
                break
            }
            if pauseGate.isPauseRequested {
                // KVM finishes an I/O or MMIO exit (the value an IN reads, RIP past the
                // instruction) only on the next KVM_RUN: do that now, without entering the
                // guest, so the state a snapshot reads while parked is complete.
                if exitPending {
                    exitPending = false
                    do { try vcpu.completePendingExit() } catch {
                        finish(.failed("vCPU \(vcpu.id): \(error)"))
                        break
                    }
                }
                pauseGate.park(unlessStopping: { stop.isStopping })
                continue
            }
            let exit: VcpuExit
            do {
                exit = try vcpu.runOnce()
            } catch {
                finish(.failed("vCPU \(vcpu.id): \(error)"))
                break
            }
            exitCount &+= 1
            switch exit {
            case .ioOut, .ioIn, .mmioWrite, .mmioRead: exitPending = true
            default: exitPending = false
            }
            if let outcome = handle(exit) { finish(outcome) }
        }
        guard case let .exited(outcome) = state else { return .stopped }
        return outcome
    }

    private func finish(_ outcome: VMOutcome) {
        state = .exited(outcome)
        stop.requestStop(outcome)
    }

    /// Handles one exit; returns an outcome when it ends the VM.
    private func handle(_ exit: VcpuExit) -> VMOutcome? {
        switch exit {
        case let .ioOut(port, size, data):
            exits.count(.ioOut)
            forEachElement(of: data, size: size) { element in
                if !portBus.write(address: UInt64(port), data: element) { unhandledPortAccesses &+= 1 }
            }
            return nil
        case let .ioIn(port, size, data):
            exits.count(.ioIn)
            forEachElement(of: UnsafeRawBufferPointer(data), size: size) { element in
                let target = UnsafeMutableRawBufferPointer(mutating: element)
                if !portBus.read(address: UInt64(port), data: target) { unhandledPortAccesses &+= 1 }
            }
            return nil
        case let .mmioWrite(address, data):
            exits.count(.mmioWrite)
            if !mmioBus.write(address: address, data: data) { unhandledMMIOAccesses &+= 1 }
            return nil
        case let .mmioRead(address, data):
            exits.count(.mmioRead)
            if !mmioBus.read(address: address, data: data) { unhandledMMIOAccesses &+= 1 }
            return nil
        case .interrupted:
            exits.count(.interrupted)
            vcpu.clearExitRequest()
            haltDetector.report(vcpu: Int(vcpu.id), haltedWithInterruptsOff: isHaltedWithInterruptsOff())
            return nil
        case .halt:
            exits.count(.halt)
            // With the in-kernel LAPIC KVM blocks HLT itself; reaching here means the guest
            // halted with no way to be woken, which Firecracker also treats as the end.
            return .poweredOff(reason: "vCPU \(vcpu.id) halted")
        case .shutdown:
            exits.count(.shutdown)
            return .reset(reason: "vCPU \(vcpu.id) shut down (triple fault)\(shutdownState())")
        case let .systemEvent(type):
            exits.count(.systemEvent)
            switch type {
            case 1: return .poweredOff(reason: "system event shutdown on vCPU \(vcpu.id)")
            case 2: return .reset(reason: "system event reset on vCPU \(vcpu.id)")
            case 3: return .guestCrashed(reason: "system event crash on vCPU \(vcpu.id)")
            default: return .failed("vCPU \(vcpu.id): unexpected KVM_EXIT_SYSTEM_EVENT type \(type)")
            }
        case let .failEntry(reason, cpu):
            exits.count(.failure)
            return .failed("vCPU \(vcpu.id): KVM_EXIT_FAIL_ENTRY (hardware reason 0x\(String(reason, radix: 16)), host cpu \(cpu))")
        case let .internalError(suberror):
            return .failed("vCPU \(vcpu.id): KVM_EXIT_INTERNAL_ERROR (suberror \(suberror))")
        case let .unhandled(reason):
            return .failed("vCPU \(vcpu.id): unhandled KVM exit reason \(reason)")
        }
    }

    /// Where the guest was when its CPU shut down: enough to find the faulting code in the
    /// kernel's symbol table and to tell a broken IDT or stack from a bad page table.
    private func shutdownState() -> String {
        guard let r = try? vcpu.registers(), let s = try? vcpu.specialRegisters() else { return "" }
        func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
        return "; rip \(hex(r.rip)) rsp \(hex(r.rsp)) rflags \(hex(r.rflags)) cs \(hex(UInt64(s.cs.selector)))"
            + " cr0 \(hex(s.cr0)) cr2 \(hex(s.cr2)) cr3 \(hex(s.cr3)) cr4 \(hex(s.cr4)) efer \(hex(s.efer))"
            + " idt \(hex(s.idt.base))/\(hex(UInt64(s.idt.limit))) gdt \(hex(s.gdt.base))/\(hex(UInt64(s.gdt.limit)))"
            + " rax \(hex(r.rax)) rbx \(hex(r.rbx)) rcx \(hex(r.rcx)) rdx \(hex(r.rdx)) rsi \(hex(r.rsi)) rdi \(hex(r.rdi))"
            + " rbp \(hex(r.rbp))"
    }

    private func isHaltedWithInterruptsOff() -> Bool {
        let kvmMPStateHalted: UInt32 = 3, interruptFlag: UInt64 = 1 << 9
        guard let state = try? vcpu.mpState(), state == kvmMPStateHalted,
              let regs = try? vcpu.registers() else { return false }
        return regs.rflags & interruptFlag == 0
    }

    /// String I/O (`rep outsb` and friends) hands over `count` elements of `size` bytes each.
    @inline(__always)
    private func forEachElement(of data: UnsafeRawBufferPointer, size: Int, _ body: (UnsafeRawBufferPointer) -> Void) {
        var offset = 0
        while offset + size <= data.count {
            body(UnsafeRawBufferPointer(rebasing: data[offset..<(offset + size)]))
            offset += size
        }
    }
}
