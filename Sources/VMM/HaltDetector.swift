import Synchronization

/// Notices a guest that has halted for good: every vCPU in HLT with interrupts disabled.
///
/// With the in-kernel LAPIC, KVM keeps a halted vCPU inside KVM_RUN and never reports it, so a
/// kernel without a power-off device (its `poweroff`/`halt` ends in `cli; hlt` on every CPU)
/// would leave kiln waiting forever. Periodically each vCPU is knocked out of KVM_RUN and checks
/// its own state; when all of them report halted-with-IF=0 in the same round, nothing can wake
/// the guest (no device here sends NMIs), so the VM has powered off.
final class HaltDetector: Sendable {
    private let halted: Mutex<[Bool]>

    init(vcpuCount: Int) {
        halted = Mutex([Bool](repeating: false, count: vcpuCount))
    }

    /// Starts a probe round: every vCPU must report again.
    func beginRound() {
        halted.withLock { flags in for index in flags.indices { flags[index] = false } }
    }

    /// Called by vCPU `index` when it has been knocked out of KVM_RUN.
    func report(vcpu index: Int, haltedWithInterruptsOff: Bool) {
        halted.withLock { flags in if index < flags.count { flags[index] = haltedWithInterruptsOff } }
    }

    var allHalted: Bool { halted.withLock { $0.allSatisfy { $0 } } }
}
