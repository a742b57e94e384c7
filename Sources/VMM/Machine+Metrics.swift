import Devices

extension Machine {
    public var metrics: MachineMetrics {
        var result = MachineMetrics()
        for runner in runners {
            for reason in VcpuExitCounters.Reason.allCases {
                result.vcpuExits[reason.metricName, default: 0] &+= runner.exits.value(reason)
            }
        }
        // The virtio section has always named drives and interfaces by kind and place (drive0,
        // net0): a drive and an interface may share an id, and these names never collide.
        var drives = 0, interfaces = 0
        for entry in inventory.entries {
            let name: String
            switch entry.kind {
            case .block(let block):
                result.block.append((id: entry.id.description, counters: block.counters))
                name = "drive\(drives)"
                drives += 1
            case .net(let net):
                result.net.append((id: entry.id.description, counters: net.counters))
                name = "net\(interfaces)"
                interfaces += 1
            case .vsock(let vsock):
                result.vsock = vsock.counters
                name = entry.id.description
            case .rng(let rng):
                result.entropy = rng.counters
                name = entry.id.description
            case .fs(let fs):
                result.fs.append((tag: fs.tag, counters: fs.counters))
                name = entry.id.description
            case .serial, .i8042, .bootTimer, .sleepControl, .pvpanic:
                continue
            }
            if let (events, interrupts) = entry.transport?.counters {
                result.transports.append((device: name, queueEvents: events, interrupts: interrupts))
            }
        }
        return result
    }
}

/// Counters of one VM, for the metrics sink.
public struct MachineMetrics: Sendable {
    public var vcpuExits: [String: UInt64] = [:]
    public var block: [(id: String, counters: BlockCounters)] = []
    public var entropy: RngCounters?
    public var net: [(id: String, counters: NetCounters)] = []
    public var vsock: VsockCounters?
    /// Per shared directory (by tag): FUSE requests served, errors, refused modifications.
    public var fs: [(tag: String, counters: FileServerCounters)] = []
    /// Per virtio device: queue notifications serviced and interrupts raised.
    public var transports: [(device: String, queueEvents: UInt64, interrupts: UInt64)] = []

    public init() {}
}
