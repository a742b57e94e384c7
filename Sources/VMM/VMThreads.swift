/// The device thread and one thread per vCPU, started (StandbyThread) before the machine runs.
struct VMThreads: Sendable {
    let devices: StandbyThread
    let vcpus: [StandbyThread]

    /// `firstVcpuStep`: what vCPU 0's thread does before its filter goes in (the builder has it
    /// read what KVM supports). If a spawn fails, the threads already made are dismissed.
    static func spawn(vcpuCount: Int, seccomp: Bool, stop: StopCoordinator,
                      firstVcpuStep: (@Sendable () throws(VMMError) -> Void)? = nil) throws(VMMError) -> VMThreads {
        // vCPU 0's first: its step is on the way to the first KVM_RUN.
        var vcpus: [StandbyThread] = []
        for index in 0..<vcpuCount {
            do {
                vcpus.append(try StandbyThread.spawn(name: "kiln_vcpu\(index)", role: .vcpu, seccomp: seccomp, stop: stop,
                                                     step: index == 0 ? firstVcpuStep : nil))
            } catch {
                vcpus.forEach { $0.dismiss() }
                throw error
            }
        }
        // The device thread serves the virtio-fs shares: the only thread that may keep a
        // capability (ThreadCapabilities).
        let devices: StandbyThread
        do {
            devices = try StandbyThread.spawn(name: "kiln_devices", capabilities: .fileServer, role: .devices,
                                              seccomp: seccomp, stop: stop)
        } catch {
            vcpus.forEach { $0.dismiss() }
            throw error
        }
        return VMThreads(devices: devices, vcpus: vcpus)
    }

    /// Waits until every thread is confined (or gave up and asked the VM to stop); rethrows a
    /// start-up step's error. False if one was not ready within `milliseconds`.
    func waitUntilReady(milliseconds: Int) throws(VMMError) -> Bool {
        var ready = try devices.waitUntilReady(milliseconds: milliseconds)
        for vcpu in vcpus {
            if try !vcpu.waitUntilReady(milliseconds: milliseconds) { ready = false }
        }
        return ready
    }

    /// Ends the threads of a machine that will not run.
    func dismiss() {
        devices.dismiss()
        vcpus.forEach { $0.dismiss() }
    }
}
