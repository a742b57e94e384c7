import Devices
import GuestMemory
import TestSupport

/// A device restored from a hostile saved state, then driven on: the input plays a short
/// session, the device and its transport are saved and encoded, the input patches bytes of
/// that encoding (any field: queue addresses and positions, registers, features, held chains,
/// limiter balances), and what still decodes is restored into a fresh device behind the same
/// guest memory, which the input then drives as in the device targets.
let restoreTarget = FuzzTarget(name: "restore", guestFacing: false, run: { bytes in
    var input = FuzzInput(bytes)
    switch input.byte() % 3 {
    case 0:
        restoreRound(&input) { Rng(source: CountingEntropy(failing: false), queueSize: 16) }
    case 1:
        let disk = FuzzDisk(sectors: 64, readOnly: false, failing: false)
        restoreRound(&input) { Block(backend: disk, serial: "restore", queueSize: 16, sizeMax: 4096) }
    default:
        let backend = SocketPairNetBackend()
        restoreRound(&input) { Net(backend: backend, mac: MACAddress(0x06, 0, 0, 0, 0, 2), queueSize: 16) }
    }
}, seeds: {
    // A started device, two requests, a few byte patches, then more requests.
    let session: [UInt8] = [0, 0, 0, 0, 0, 0, 7, 0, 7, 1]
    return (0..<3).map { device in [UInt8(device)] + session + [2, 0x10, 0, 5, 0x40, 0, 1] + session }
})

private func restoreRound<Device: SnapshotableDevice>(_ input: inout FuzzInput, _ make: () -> Device) {
    let original = make()
    let session = VirtioSession(device: original)
    session.start(&input)
    session.play(&input, limit: 12)
    var writer = StateWriter()
    session.driver.transport.save(original).encode(to: &writer)
    var encoded = writer.bytes
    for _ in 0..<(input.byte() % 16) where !encoded.isEmpty {
        let offset = Int(input.integer(UInt16.self)) % encoded.count
        encoded[offset] = input.byte()
    }
    if input.byte() > 240 { encoded.removeLast(min(encoded.count, Int(input.byte()))) }
    var reader = StateReader(encoded)
    guard let state = try? VirtioState<Device.State>(from: &reader) else { return }
    let restored = make()
    let transport = session.driver.replaceDevice(with: restored)
    do throws(SnapshotStateError) {
        try transport.validate(state, for: restored)
        try transport.restore(state, into: restored)
    } catch {
        return
    }
    session.stopCheckingUsedRing()
    session.play(&input)
}
