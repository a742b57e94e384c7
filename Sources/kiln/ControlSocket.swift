import API
import ArgumentParser
import VMM

/// `kiln boot --control-sock PATH`: boots `config` and serves the API for the running VM on
/// PATH until it stops (how `kiln snapshot` pauses and snapshots a sandbox). The API thread
/// has its own seccomp filter, as with `kiln --api-sock`; this thread serves the requests under
/// the control filter once the machine has started.
func runVMServingAPI(_ config: VMConfig, socketPath: String) throws -> Never {
    LogSink.bootstrap()
    let outcome: VMOutcome
    let channel: RequestChannel
    do {
        let machine = try Machine.build(config)
        // The server's socket and thread before the machine starts: afterwards this thread's
        // filter no longer allows making them.
        channel = try RequestChannel()
        _ = try APIServer(socketPath: socketPath, channel: channel, seccomp: config.seccomp)
        try machine.start()
        let controller = APIController(running: machine, instanceID: "sandbox", seccomp: config.seccomp)
        outcome = machine.waitUntilStopped { milliseconds in
            channel.serve(waitingUpTo: Int32(milliseconds), controller.handle)
        }
    } catch {
        fail("\(error)")
    }
    // The request that ended the VM (SendCtrlAltDel) gets its answer before kiln exits.
    channel.waitUntilDelivered(upTo: RequestChannel.deliveryGraceMilliseconds)
    printError("kiln: VM ended: \(outcome)")
    throw ExitCode(outcome.exitCode)
}
