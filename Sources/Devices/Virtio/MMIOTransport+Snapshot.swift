import GuestMemory

/// Save and restore of a virtio device and its transport, for snapshots.
///
/// Both run with nothing else touching the device: vCPUs paused (no register access) and the
/// device thread quiesced (no queue processing); the locks are taken all the same, in the
/// usual order (register → queue → device), so a caller that gets this wrong stalls rather
/// than reads a torn state.
extension MMIOTransport {
    /// Finishes the device's work in flight (publishing it, with the interrupt the driver asked
    /// for), then reads the transport's state and the device's. `device` must be this
    /// transport's device (the VMM knows its concrete type; the transport does not).
    public func save<Device: SnapshotableDevice>(_ device: Device) -> VirtioState<Device.State> {
        precondition(device === self.device, "saving a device through another device's transport")
        for index in queues.indices { completeInFlight(index, device) }
        let transport = registers.withLock { registers in
            TransportState(deviceType: self.device.deviceType.rawValue, offeredFeatures: offeredFeatures,
                           registers: registers, interruptStatus: interruptBits.load(ordering: .acquiring),
                           needsReset: deviceNeedsReset.load(ordering: .acquiring),
                           activated: activated.load(ordering: .acquiring),
                           queues: queues.map { $0.state.withLock { $0.savedState } })
        }
        return VirtioState(transport: transport, device: device.saveState())
    }

    private func completeInFlight<Device: SnapshotableDevice>(_ index: Int, _ device: Device) {
        let raise = queues[index].state.withLock { queue -> Bool in
            guard activated.load(ordering: .acquiring), queue.isReady,
                  !deviceNeedsReset.load(ordering: .acquiring) else { return false }
            do throws(QueueError) {
                try device.completeInFlight(index, queue: &queue, memory: memory)
                guard try queue.needsNotification(memory: memory) else { return false }
                interruptBits.bitwiseOr(InterruptStatus.usedBuffer.rawValue, ordering: .sequentiallyConsistent)
            } catch {
                // As in processQueue: the ring is broken, and the state saved says so.
                deviceNeedsReset.store(true, ordering: .sequentiallyConsistent)
                let bits: InterruptStatus = [.usedBuffer, .configChange]
                interruptBits.bitwiseOr(bits.rawValue, ordering: .sequentiallyConsistent)
            }
            return true
        }
        if raise {
            interruptsRaised.wrappingAdd(1, ordering: .relaxed)
            interrupt.trigger()
        }
    }

    /// Checks `state` against this transport and `device` as `restore` would, changing
    /// nothing: for a machine restore that checks every device before it restores any.
    public func validate<Device: SnapshotableDevice>(_ state: VirtioState<Device.State>,
                                                     for device: Device) throws(SnapshotStateError) {
        precondition(device === self.device, "validating a device through another device's transport")
        try registers.withLock { (registers: inout TransportRegisters) throws(SnapshotStateError) in
            _ = try check(state, device: device, registers: registers)
        }
    }

    /// Restores `state` into this transport and `device` (its device), which must not have
    /// started: fresh from construction, or reset. Everything is checked first (the transport
    /// against the device's type, features and queues and against guest memory, then the
    /// device's own state) and the device is activated again with the negotiated features if
    /// it had been; only then is anything applied. A throw leaves transport and device as
    /// they were.
    ///
    /// Pending interrupt bits are signalled once more (a spurious virtio-mmio interrupt is
    /// harmless: the driver reads InterruptStatus), and the device may tell the guest what the
    /// restore changed (`didRestore`).
    public func restore<Device: SnapshotableDevice>(_ state: VirtioState<Device.State>,
                                                    into device: Device) throws(SnapshotStateError) {
        precondition(device === self.device, "restoring a device through another device's transport")
        let saved = state.transport
        try registers.withLock { (registers: inout TransportRegisters) throws(SnapshotStateError) in
            let (restored, context) = try check(state, device: device, registers: registers)
            if saved.activated {
                do throws(VirtioActivationError) {
                    try device.activate(features: saved.registers.driverFeatures)
                } catch {
                    device.reset()
                    throw .activationFailed(error.reason)
                }
            }
            // From here on nothing fails.
            registers = saved.registers
            for (slot, queue) in zip(queues, restored) { slot.state.withLock { $0 = queue } }
            interruptBits.store(saved.interruptStatus, ordering: .sequentiallyConsistent)
            deviceNeedsReset.store(saved.needsReset, ordering: .sequentiallyConsistent)
            activated.store(saved.activated, ordering: .releasing)
            device.applyRestore(state.device, context: context)
        }
        if saved.interruptStatus != 0 {
            interruptsRaised.wrappingAdd(1, ordering: .relaxed)
            interrupt.trigger()
        }
        device.didRestore()
    }

    /// Under the register lock: the queues `state` restores and the device's view of them,
    /// once the transport and the device's own state are known to fit.
    private func check<Device: SnapshotableDevice>(_ state: VirtioState<Device.State>, device: Device,
                                                   registers: TransportRegisters)
        throws(SnapshotStateError) -> ([SplitQueue], RestoreContext) {
        guard registers.status.isEmpty, !activated.load(ordering: .acquiring),
              !deviceNeedsReset.load(ordering: .acquiring) else { throw .deviceInUse }
        let saved = state.transport
        try saved.validate(deviceType: device.deviceType.rawValue, offeredFeatures: offeredFeatures,
                           queueMaxSizes: queues.map { $0.state.withLock { $0.maxSize } }, memory: memory)
        let restored = saved.queues.map(SplitQueue.init(restoring:))
        let context = RestoreContext(queues: restored, memory: memory, features: saved.registers.driverFeatures,
                                     activated: saved.activated)
        try device.validateRestore(state.device, context: context)
        return (restored, context)
    }
}
