import SandboxHost

extension SandboxStore {
    /// The sandbox `name`, or a one-line error and exit (Exec.swift and Cp.swift use it).
    func lookup(_ name: String) -> SandboxRecord {
        do {
            return try record(named: name)
        } catch {
            fail("\(error)")
        }
    }
}

extension VMMProcess {
    /// The VMM's log and the end of the guest console on standard error, for a run that failed.
    func showLogs() {
        for (name, text) in logTails() {
            printError("kiln: --- \(name) (end) ---")
            printError(text)
        }
    }
}
