import GuestMemory
import X86Boot
#if canImport(Glibc)
import Glibc
#endif

/// The VM generation ID the guest's vmgenid driver reads (ACPI device `VMGENCTR`): 16 random
/// bytes at `ACPILayout.vmGenerationID`. A restored clone gets new bytes and an interrupt on
/// the Generic Event Device, whose `_EVT` notifies the driver, so each clone's kernel reseeds
/// its random number generator instead of repeating the snapshot's.
final class VMGeneration {
    private let memory: GuestMemory
    private let line: IRQFDLine

    init(memory: GuestMemory, line: IRQFDLine) {
        self.memory = memory
        self.line = line
    }

    /// Writes a fresh ID (at build, before any vCPU runs, and at restore, before resume).
    func writeNewID() throws(VMMError) {
        var id = [UInt8](repeating: 0, count: ACPILayout.vmGenerationIDSize)
        // getentropy: up to 256 bytes from getrandom(2), which cannot fail short once seeded.
        guard id.withUnsafeMutableBytes({ getentropy($0.baseAddress, $0.count) }) == 0 else {
            throw .thread(operation: "getentropy for the VM generation ID", errno: errno)
        }
        do { try memory.write(id, to: ACPILayout.vmGenerationID) } catch { throw .memory(error) }
        memory.noteDeviceWrite(ACPILayout.vmGenerationID, length: UInt64(id.count))
    }

    /// The ID currently in guest memory.
    var currentID: [UInt8] {
        (try? memory.readBytes(at: ACPILayout.vmGenerationID, count: ACPILayout.vmGenerationIDSize)) ?? []
    }

    /// Tells the guest the ID changed (after the vCPUs of a restored VM run again).
    func notifyGuest() { line.trigger() }
}
