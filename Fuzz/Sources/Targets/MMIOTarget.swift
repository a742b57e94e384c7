import Devices
import GuestMemory
import TestSupport

/// The virtio-mmio register interface on its own: every register at every width and offset,
/// in every device state (the input may or may not negotiate first), with queue setups,
/// notifications and resets in between. The device behind it is a block device on an
/// in-memory disk or the entropy device, chosen by the input.
let mmioTarget = FuzzTarget(name: "mmio", guestFacing: true, run: { bytes in
    var input = FuzzInput(bytes)
    let device: any VirtioDevice = input.bool()
        ? Block(backend: FuzzDisk(sectors: 8, readOnly: false, failing: false), serial: "mmio", queueSize: 8, sizeMax: 4096)
        : Rng(source: CountingEntropy(failing: false), queueSize: 8)
    let session = VirtioSession(device: device)
    if input.bool() { session.start(&input) }
    let driver = session.driver
    let registers: [UInt64] = [MMIORegister.magicValue, MMIORegister.version, MMIORegister.deviceID, MMIORegister.vendorID,
                               MMIORegister.deviceFeatures, MMIORegister.deviceFeaturesSelect, MMIORegister.driverFeatures,
                               MMIORegister.driverFeaturesSelect, MMIORegister.queueSelect, MMIORegister.queueNumMax,
                               MMIORegister.queueNum, MMIORegister.queueReady, MMIORegister.queueNotify,
                               MMIORegister.interruptStatus, MMIORegister.interruptACK, MMIORegister.status,
                               MMIORegister.queueDescLow, MMIORegister.queueDescHigh, MMIORegister.queueDriverLow,
                               MMIORegister.queueDriverHigh, MMIORegister.queueDeviceLow, MMIORegister.queueDeviceHigh,
                               MMIORegister.sharedMemorySelect, MMIORegister.sharedMemoryLengthLow,
                               MMIORegister.configGeneration, MMIORegister.config]
    for _ in 0..<96 where !input.isEmpty {
        let selector = input.byte()
        // Known registers with 32-bit accesses mostly; any offset and width otherwise.
        let offset = selector < 200 ? registers[Int(selector) % registers.count] + UInt64(selector >= 192 ? input.byte() % 16 : 0)
                                    : UInt64(input.integer(UInt16.self))
        let width = selector < 160 ? 4 : [1, 2, 4, 8, 0, 3, 16][input.below(7)]
        let kind = input.byte()
        if kind < 128 {
            var value = input.take(width)
            value += repeatElement(0, count: width - value.count)
            driver.writeBytes(offset, value)
        } else if kind < 240 {
            let value = driver.readBytes(offset, count: width)
            precondition(value.count == width)
        } else {
            // Whatever the device loop would do for a queue index the guest picked.
            _ = driver.transport.processQueue(Int(input.byte()) - 8)
        }
    }
}, seeds: {
    // Block, started, then: select queue 0, read QueueNumMax, write status 0 (reset).
    [[1, 1, 0, 0, 0, 8, 0, 0, 0, 0, 9, 200, 15, 0, 0, 0, 0, 0],
     [0, 0] + (0..<26).flatMap { [UInt8($0), 200] }]
})
