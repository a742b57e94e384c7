import Devices
import OCIRuntime
import Snapshot
import VMM

/// Section names a state file may hold, so most inputs name real sections.
private let sectionNames = [MachineSnapshot.memorySection, MachineSnapshot.dirtySection, MachineSnapshot.vmSection,
                            MachineSnapshot.vcpuSection(0), MachineSnapshot.vcpuSection(1), "vmm.config",
                            "vmm.devices", "vmm.generation"]

/// The snapshot state parser (`kiln --restore`, `PUT /snapshot/load`): a state file is hostile.
/// Most inputs are sections packed into a container with a correct checksum (a raw byte
/// stream would stop at the CRC); the rest are raw container bytes. The VMM's device records
/// are decoded on their own too.
let snapshotTarget = FuzzTarget(name: "snapshot", guestFacing: false, run: { bytes in
    var input = FuzzInput(bytes)
    let mode = input.byte()
    switch mode {
    case 0..<176:
        var container = SnapshotContainer()
        for _ in 0..<(input.byte() % 8) {
            let name = input.byte() < 240 ? sectionNames[input.below(sectionNames.count)]
                                          : String(decoding: input.bytes(upTo: 48), as: UTF8.self)
            try? container.add(name, input.bytes(upTo: 4096))
        }
        guard let encoded = try? container.encoded() else { return }
        guard let snapshot = try? MachineSnapshot.decode(encoded) else { return }
        _ = try? snapshot.encoded()
    case 176..<224:
        var reader = StateReader(input.rest())
        _ = try? SavedDevices(from: &reader)
    default:
        _ = try? MachineSnapshot.decode(input.rest())
    }
}, seeds: {
    // A memory section with one range, and a devices record with no devices.
    var memory: [UInt8] = [1]
    memory.append(le: UInt32(1)); memory.append(le: UInt64(0)); memory.append(le: UInt64(0x800_0000)); memory.append(le: UInt64(0))
    var seed: [UInt8] = [0, 1, 0]
    seed.append(le: UInt16(memory.count))
    return [seed + memory, [200, 1, 0, 0, 0, 0]]
})

/// The OCI bundle's config.json (`kiln-oci create`): JSON text, then the runtime spec subset.
let ociConfigTarget = FuzzTarget(name: "ociconfig", guestFacing: false, run: { bytes in
    guard let document = try? JSONDocument.parse(Array(bytes)) else { return }
    _ = try? OCIConfig.parse(document)
}, seeds: {
    [#"{"ociVersion": "1.0.2", "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["sh"], "env": ["PATH=/bin"], "cwd": "/"}, "root": {"path": "rootfs", "readonly": true}, "hostname": "c", "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}], "linux": {"namespaces": [{"type": "network", "path": "/proc/1/ns/net"}], "resources": {"memory": {"limit": 268435456}, "cpu": {"quota": 100000, "period": 100000}}}, "annotations": {"io.kiln.image": "debian"}}"#,
     #"[1, 2.5e10, -0, "\u00e9\ud83d\ude00", true, null, {"a": {}}]"#]
        .map { Array($0.utf8) }
})
