// kiln-agent: PID 1 of the sandbox: /init of kiln's agent initramfs, or /sbin/init of an image. Prepares the guest, then serves agent
// sessions (docs/agent-protocol.md) on vsock port 1024, one thread per connection.
import AgentCore
import AgentProtocol
import CAgent
import CNetInterface
import Glibc

@Sendable func log(_ line: String) {
    let text = Array("kiln-agent: \(line)\n".utf8)
    _ = text.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

// Writing to a closed pipe or socket must be an error, not the end of PID 1.
signal(SIGPIPE, SIG_IGN)

let isInit = getpid() == 1
if isInit {
    // Firecracker's boot-time marker: the VMM logs the time from its start to here. It is
    // written through /dev/mem, which kiln's initramfs only has once ImageRoot mounted devtmpfs.
    let writeBootMarker = { _ = kiln_agent_write_phys_byte(0xd000_0000, 123) }
    let root = GuestRoot.fromCommandLine(GuestSetup.readSmallFile("/proc/cmdline") ?? "")
    if let image = root.image {
        do {
            try ImageRoot.enter(image: image, layer: root.writeLayer ?? .tmpfs, devicesMounted: writeBootMarker)
        } catch {
            // The initramfs holds nothing to run commands with: a sandbox without its image is
            // no sandbox, and powering off ends `kiln run` at once with this on the console.
            log("cannot set up the image root: \(error)")
            _ = kiln_agent_power_off()
        }
        GuestSetup.mountPseudoFileSystems(log: log)
    } else {
        writeBootMarker()
        GuestSetup.mountPseudoFileSystems(log: log)
        if let layer = root.writeLayer {
            do {
                try WriteLayer.setUpOverRoot(layer: layer)
                // The new root has its own, empty /proc, /sys, /dev, /tmp, /run.
                GuestSetup.mountPseudoFileSystems(log: log)
            } catch {
                // The read-only root still runs commands.
                log("no write layer: \(error)")
            }
        }
    }
    GuestSetup.setHostname(log: log)
    if kiln_interface_up("lo") != 0 { log("bringing up lo: \(String(cString: strerror(errno)))") }
    GuestSetup.configureNetwork(cmdline: GuestSetup.readSmallFile("/proc/cmdline"), log: log)
    SharedMounts.mountAll(cmdline: GuestSetup.readSmallFile("/proc/cmdline"), log: log)
}

let children = ChildRegistry()
if isInit {
    // As init, every orphan in the guest becomes our child and must be reaped.
    startDetachedThread { children.runOrphanReaper() }
}

let port = FrameLimits.agentPort
let listener = kiln_agent_vsock_listen(port, 16)
guard listener >= 0 else {
    log("cannot listen on vsock port \(port): \(String(cString: strerror(errno)))")
    if isInit {
        // PID 1 must not exit (the kernel would panic): power off instead.
        _ = kiln_agent_power_off()
    }
    exit(1)
}
log("listening on vsock port \(port)")
// Tells a waiting host at once (docs/agent-protocol.md, "Readiness"). A host that does not
// listen refuses the connection; it then finds the agent by connecting itself.
if kiln_agent_vsock_announce(FrameLimits.agentReadyPort) != 0 && errno != ECONNRESET && errno != ECONNREFUSED {
    log("announcing on vsock port \(FrameLimits.agentReadyPort): \(String(cString: strerror(errno)))")
}

let context = SessionContext(children: children, powerOff: {
    if isInit {
        _ = kiln_agent_power_off()
        log("power off failed: \(String(cString: strerror(errno)))")
    } else {
        exit(0)
    }
}, restore: RestoreNotice(onRestore: { generation, time in
    log("restored from a snapshot (generation \(generation)): clock set to \(time.tv_sec).\(time.tv_nsec) from the host")
}))
serveConnections(listener: listener, context: context, log: log)
