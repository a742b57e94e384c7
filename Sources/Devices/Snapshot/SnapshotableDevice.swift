import GuestMemory

/// What a virtio device's restore sees: the queues as the transport will restore them, guest
/// memory, and what the driver negotiated. Plain values: nothing has been applied yet.
public struct RestoreContext {
    public let queues: [SplitQueue]
    public let memory: GuestMemory
    /// The driver's features (meaningful once FEATURES_OK was set).
    public let features: UInt64
    /// The device had started (DRIVER_OK accepted): ready queues are in use.
    public let activated: Bool
}

/// A virtio device whose state a snapshot carries (Firecracker's per-device `persist`).
///
/// Restore is two-phase so that a state that does not fit changes nothing: `validateRestore`
/// checks everything that can fail, then `applyRestore` applies and cannot fail. The transport
/// drives both (`MMIOTransport.restore(_:into:)`), into a device that has not started.
public protocol SnapshotableDevice: VirtioDevice {
    associatedtype State: StateCodable & Equatable & Sendable

    /// The device's own state. Called with nothing running on the device (the device thread
    /// quiesced, vCPUs paused) and after `completeInFlight`.
    func saveState() -> State
    /// Throws if `state` cannot be this device's: other config, MAC or CID, bad limiter
    /// balances, held chains that are not chains. Changes nothing.
    func validateRestore(_ state: State, context: RestoreContext) throws(SnapshotStateError)
    /// Applies a validated `state`. Runs after the device was activated again with the
    /// negotiated features (when it had been), under the transport's register lock.
    func applyRestore(_ state: State, context: RestoreContext)
    /// Before a save, for each ready queue, under its lock: finish work a state cannot carry
    /// (requests in flight on the host) and publish it in the used ring. Default: nothing.
    func completeInFlight(_ index: Int, queue: inout SplitQueue, memory: GuestMemory) throws(QueueError)
    /// After a restore, with no transport lock held: tell the guest what the restore changed
    /// (vsock's transport reset). Default: nothing.
    func didRestore()
}

extension SnapshotableDevice {
    public func completeInFlight(_ index: Int, queue: inout SplitQueue, memory: GuestMemory) throws(QueueError) {}
    public func didRestore() {}
}

/// A virtio device's whole state: its transport and its own.
public struct VirtioState<DeviceState: StateCodable & Equatable & Sendable>: Equatable, Sendable, StateCodable {
    public var transport: TransportState
    public var device: DeviceState

    public init(transport: TransportState, device: DeviceState) {
        self.transport = transport
        self.device = device
    }

    public func encode(to writer: inout StateWriter) {
        transport.encode(to: &writer)
        device.encode(to: &writer)
    }

    public init(from reader: inout StateReader) throws(SnapshotStateError) {
        transport = try TransportState(from: &reader)
        device = try DeviceState(from: &reader)
    }
}
