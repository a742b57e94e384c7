#if canImport(Glibc)
import Glibc
#endif

/// Where virtio-rng gets its bytes. A protocol so tests can check exactly what lands in
/// guest buffers, and what happens when the source fails.
public protocol EntropySource: Sendable {
    /// Fills all of `buffer`, or returns false (the device then hands back what it had).
    func fill(_ buffer: UnsafeMutableRawBufferPointer) -> Bool
}

/// The host kernel's CSPRNG through the getrandom system call (as Firecracker's entropy
/// device uses). Swift's Glibc module does not export `getrandom` itself, so this calls
/// glibc's `getentropy`, which is `getrandom(buf, len, 0)` for at most 256 bytes: seccomp
/// filters must allow `getrandom`. It never reads /dev/urandom, which a jail may lack.
public struct SystemEntropySource: EntropySource {
    static let chunk = 256

    public init() {}

    public func fill(_ buffer: UnsafeMutableRawBufferPointer) -> Bool {
        guard let base = buffer.baseAddress else { return true }
        var done = 0
        while done < buffer.count {
            let count = min(Self.chunk, buffer.count - done)
            if getentropy(base + done, count) != 0 {
                if errno == EINTR { continue }
                return false
            }
            done += count
        }
        return true
    }
}
