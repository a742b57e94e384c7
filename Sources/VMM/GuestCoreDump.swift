#if canImport(Glibc)
import Glibc
#endif
import GuestMemory
import KVM

/// A debugging aid for guest crashes that leave nothing on the console: when a vCPU shuts
/// down (triple fault), guest RAM is written to a file (each region in address order, raw),
/// so the kernel's memory can be compared with its image offline. Opened while building,
/// before any seccomp filter; written by the VMM thread after every other thread has ended.
public struct GuestCoreDump {
    /// The environment variable naming the file; `kiln boot` reads it.
    public static let environmentVariable = "KILN_GUEST_CORE_ON_TRIPLE_FAULT"

    private let descriptor: Int32
    let path: String

    init(path: String) throws(VMMError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .file(operation: "create guest core file", path: path, errno: errno) }
        descriptor = fd
        self.path = path
    }

    /// Writes every region; returns a one-line report for stderr.
    func write(_ memory: GuestMemory) -> String {
        var written: UInt64 = 0
        for region in memory.regions {
            var offset: UInt64 = 0
            while offset < region.size {
                let chunk = Int(min(region.size - offset, 1 << 24))
                let n = Glibc.write(descriptor, region.host + Int(offset), chunk)
                if n <= 0 {
                    return "guest core \(path): write failed after \(written) bytes: \(errnoName(errno))"
                }
                offset += UInt64(n)
                written += UInt64(n)
            }
        }
        return "guest core written to \(path): \(written) bytes, regions "
            + memory.regions.map { "0x\(String($0.start.rawValue, radix: 16))+0x\(String($0.size, radix: 16))" }
                .joined(separator: " ")
    }

    func close() { _ = Glibc.close(descriptor) }
}
