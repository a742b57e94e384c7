import GuestMemory

/// Device IDs of the virtio 1.x specification (5 "Device Types") that Kiln implements.
public enum VirtioDeviceType: UInt32, Sendable {
    case network = 1
    case block = 2
    case console = 3
    case entropy = 4
    case vsock = 19
    case fileSystem = 26
}

/// Why a device refused to start at DRIVER_OK; the transport then sets DEVICE_NEEDS_RESET.
public struct VirtioActivationError: Error, Equatable, Sendable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "virtio device activation failed: \(reason)" }
}

/// A virtio device as a transport sees it: an ID, features, queues and a config space.
///
/// Devices know nothing of MMIO registers, KVM or interrupts: the transport negotiates
/// features, owns the queues (one lock each), calls `processQueue` with a queue whose lock it
/// holds, and decides from the ring whether the guest must be interrupted. So a device can be
/// driven by a test with no VM, and the same device could sit behind another transport.
///
/// Locking: `processQueue` for queue N runs under queue N's lock; `activate`, `reset` and the
/// config accessors run under the transport's register lock. A device that shares state
/// between those guards it itself, and never calls back into the transport.
public protocol VirtioDevice: AnyObject, Sendable {
    var deviceType: VirtioDeviceType { get }
    /// Device-specific feature bits. The transport adds `VirtioFeature.transportFeatures`.
    var features: UInt64 { get }
    /// The maximum size of each queue (a power of two, at most 32768); the count of this
    /// array is the number of queues.
    var queueMaxSizes: [UInt16] { get }
    /// Bytes of device-specific configuration space (at MMIO offset 0x100).
    var configSize: Int { get }

    /// Fills `data` from config space at `offset`; the transport guarantees
    /// `offset + data.count <= configSize`.
    func readConfig(offset: Int, into data: UnsafeMutableRawBufferPointer)
    /// A driver write to config space, with the same guarantee. Most fields are read-only.
    func writeConfig(offset: Int, data: UnsafeRawBufferPointer)

    /// DRIVER_OK was accepted with these negotiated features (transport bits included).
    func activate(features: UInt64) throws(VirtioActivationError)
    /// The driver reset the device: forget anything negotiated; the transport resets queues.
    func reset()

    /// Consumes available buffers of queue `index` and returns them through `addUsed`.
    /// Throws only for queue-level corruption (the transport then marks the device as needing
    /// reset); a malformed chain is the device's to answer, with an error status or a zero
    /// used length.
    func processQueue(_ index: Int, queue: inout SplitQueue, memory: GuestMemory) throws(QueueError)
}

extension VirtioDevice {
    public func writeConfig(offset: Int, data: UnsafeRawBufferPointer) {}
    public func activate(features: UInt64) throws(VirtioActivationError) {}
    public func reset() {}
}
