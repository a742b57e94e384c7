/// A device reachable through a `Bus`: it sees offsets inside its own window and raw bytes.
///
/// Called concurrently from every vCPU thread (and possibly the device thread), so an
/// implementation guards its own state; the bus takes no lock. Both calls are on the vCPU
/// hot path: no allocation, no blocking beyond the device's own short critical section.
public protocol BusDevice: AnyObject, Sendable {
    /// Fills every byte of `data` (1 to 8 bytes) with the value at `offset`. The bus does not
    /// pre-fill the buffer, so a byte left untouched would hand the guest stale data.
    func read(offset: UInt64, data: UnsafeMutableRawBufferPointer)
    /// Consumes `data` (1 to 8 bytes, little-endian) written at `offset`.
    func write(offset: UInt64, data: UnsafeRawBufferPointer)
}
