import Seccomp

/// The device thread, one thread per drive and one per vCPU, started (StandbyThread) before the
/// machine runs.
struct VMThreads: Sendable {
    let devices: StandbyThread
    /// In drive order, each to run its drive's loop (`DeviceLoops.drives`).
    let drives: [StandbyThread]
    let vcpus: [StandbyThread]

    /// `firstVcpuStep`: what vCPU 0's thread does before its filter goes in (the builder has it
    /// read what KVM supports). If a spawn fails, the threads already made are dismissed.
    static func spawn(vcpuCount: Int, driveCount: Int, seccomp: Bool, stop: StopCoordinator,
                      firstVcpuStep: (@Sendable () throws(VMMError) -> Void)? = nil) throws(VMMError) -> VMThreads {
        var spawned: [StandbyThread] = []
        func spawn(_ name: String, capabilities: ThreadCapabilities.Kind = .none, role: ThreadRole,
                   step: (@Sendable () throws(VMMError) -> Void)? = nil) throws(VMMError) -> StandbyThread {
            do throws(VMMError) {
                let thread = try StandbyThread.spawn(name: name, capabilities: capabilities, role: role, seccomp: seccomp,
                                                     stop: stop, step: step)
                spawned.append(thread)
                return thread
            } catch {
                spawned.forEach { $0.dismiss() }
                throw error
            }
        }
        // vCPU 0's first: its step is on the way to the first KVM_RUN.
        var vcpus: [StandbyThread] = []
        for index in 0..<vcpuCount {
            vcpus.append(try spawn("kiln_vcpu\(index)", role: .vcpu, step: index == 0 ? firstVcpuStep : nil))
        }
        // The device thread serves the virtio-fs shares: the only thread that may keep a
        // capability (ThreadCapabilities).
        let devices = try spawn("kiln_devices", capabilities: .fileServer, role: .devices)
        // A drive's thread makes the same calls as the device thread does for a drive.
        var drives: [StandbyThread] = []
        for index in 0..<driveCount {
            drives.append(try spawn("kiln_drive\(index)", role: .devices))
        }
        return VMThreads(devices: devices, drives: drives, vcpus: vcpus)
    }

    /// Waits until every thread is confined (or gave up and asked the VM to stop); rethrows a
    /// start-up step's error. False if one was not ready within `milliseconds`.
    func waitUntilReady(milliseconds: Int) throws(VMMError) -> Bool {
        var ready = true
        for thread in [devices] + drives + vcpus {
            if try !thread.waitUntilReady(milliseconds: milliseconds) { ready = false }
        }
        return ready
    }

    /// Ends the threads of a machine that will not run.
    func dismiss() {
        devices.dismiss()
        drives.forEach { $0.dismiss() }
        vcpus.forEach { $0.dismiss() }
    }
}
