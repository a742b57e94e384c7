import Devices

/// The devices' half of a snapshot (the vCPU, irqchip and clock state are KVM's side).
extension Machine {
    /// Every device's state, read on the device thread between two handlers while the vCPUs
    /// are paused, so no register access and no queue processing runs meanwhile.
    public func saveDevices() throws(VMMError) -> SavedDevices {
        guard isPaused || runners.isEmpty else { throw .invalidState("pause the VM before saving its devices") }
        return loop.quiesce { inventory.save() }
    }

    /// Puts saved device state into this machine, built from the snapshot's configuration and
    /// not started yet (see `DeviceInventory.restore`).
    public func restoreDevices(_ saved: SavedDevices) throws(VMMError) {
        guard runners.isEmpty else { throw .invalidState("devices are restored before the VM starts") }
        do {
            try loop.quiesce { () -> Result<Void, DeviceSnapshotError> in
                do throws(DeviceSnapshotError) {
                    try inventory.restore(saved)
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }.get()
        } catch { throw .deviceSnapshot(error) }
    }
}

/// Snapshots of a running machine (`PUT /snapshot/create`).
extension Machine {
    public func createSnapshot(_ request: SnapshotCreateRequest) throws(VMMError) {
        throw .invalidState("snapshot/create is not available yet in this build")
    }
}
