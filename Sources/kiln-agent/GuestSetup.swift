import AgentProtocol
import CAgent
import CNetInterface
import Glibc

/// What PID 1 prepares before serving: the pseudo file systems, a hostname, loopback and, with
/// `kiln run --net`, eth0.
/// A step that fails is reported on the console and the agent carries on: a sandbox without
/// /sys is still useful, one without an agent is not.
enum GuestSetup {
    struct Mount {
        let source: String
        let target: String
        let type: String
        let flags: UInt
        let data: String?
    }

    static let mounts: [Mount] = [
        Mount(source: "proc", target: "/proc", type: "proc", flags: UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), data: nil),
        Mount(source: "sysfs", target: "/sys", type: "sysfs", flags: UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), data: nil),
        // The kernel may have mounted devtmpfs already (DEVTMPFS_MOUNT): EBUSY is fine.
        Mount(source: "devtmpfs", target: "/dev", type: "devtmpfs", flags: UInt(MS_NOSUID), data: "mode=0755"),
        Mount(source: "tmpfs", target: "/tmp", type: "tmpfs", flags: UInt(MS_NOSUID | MS_NODEV), data: "mode=1777"),
        Mount(source: "tmpfs", target: "/run", type: "tmpfs", flags: UInt(MS_NOSUID | MS_NODEV), data: "mode=0755"),
    ]

    static func mountPseudoFileSystems(log: (String) -> Void) {
        for m in mounts {
            // /proc may be there already: mounted before the runtime started (CAgent/early_proc.c).
            if m.type == "proc" && access("/proc/self/stat", F_OK) == 0 { continue }
            _ = mkdir(m.target, 0o755)
            let result = m.data.map { data in mount(m.source, m.target, m.type, m.flags, data) }
                ?? mount(m.source, m.target, m.type, m.flags, nil)
            if result != 0 && errno != EBUSY {
                log("mount \(m.type) on \(m.target): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// `kiln.hostname=NAME` from the kernel command line, else "kiln".
    static func setHostname(log: (String) -> Void) {
        var name = "kiln"
        if let cmdline = readSmallFile("/proc/cmdline") {
            for word in cmdline.split(whereSeparator: { $0 == " " || $0 == "\n" }) where word.hasPrefix("kiln.hostname=") {
                let value = word.dropFirst("kiln.hostname=".count)
                if !value.isEmpty && value.utf8.count <= 64 { name = String(value) }
            }
        }
        if sethostname(name, name.utf8.count) != 0 {
            log("sethostname \(name): \(String(cString: strerror(errno)))")
        }
    }

    /// The interface virtio-net's first device becomes.
    static let networkInterface = "eth0"

    /// `kiln.net=ADDRESS/PREFIX,GATEWAY` from the kernel command line (`kiln run --net`): eth0
    /// gets the address and comes up, the default route goes via the gateway (the host's end
    /// of the TAP). Nothing without the word; a malformed one is reported and ignored.
    static func configureNetwork(cmdline: String?, log: (String) -> Void) {
        guard let cmdline, let parsed = GuestNetwork.fromCommandLine(cmdline) else { return }
        let network: GuestNetwork
        switch parsed {
        case .success(let value): network = value
        case .failure(let error):
            log("ignoring \(GuestNetwork.commandLineKey): \(error)")
            return
        }
        let name = networkInterface
        var failed: UnsafePointer<CChar>?
        guard kiln_interface_set_ipv4(name, network.address.value, network.netmask.value, &failed) == 0 else {
            log("configuring \(name) as \(network.address)/\(network.prefixLength): "
                + "\(failed.map { String(cString: $0) } ?? "?"): \(String(cString: strerror(errno)))")
            return
        }
        if kiln_agent_add_default_route(network.gateway.value, name) != 0 {
            log("default route via \(network.gateway): \(String(cString: strerror(errno)))")
        }
    }

    static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }
}
