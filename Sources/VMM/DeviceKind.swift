import Devices

/// What a device is, carrying the device itself. Every per-device step (metrics, updates,
/// teardown, bus placement, and later snapshot save/restore) switches over this exhaustively, so
/// adding a kind does not compile until each of those steps says what it does with it.
enum DeviceKind {
    case block(Block)
    case net(Net)
    case vsock(Vsock)
    case rng(Rng)
    case fs(Fs)
    case serial(Serial16550)
    case i8042(I8042)
    case bootTimer(BootTimer)
    case sleepControl(ACPISleepControl)
    case pvpanic(PvPanic)

    /// The virtio device behind a virtio-mmio transport; nil for the legacy devices, which sit on
    /// a bus themselves.
    var virtioDevice: (any VirtioDevice)? {
        switch self {
        case .block(let block): block
        case .net(let net): net
        case .vsock(let vsock): vsock
        case .rng(let rng): rng
        case .fs(let fs): fs
        case .serial, .i8042, .bootTimer, .sleepControl, .pvpanic: nil
        }
    }

    /// The virtio devices that watch descriptors of their own on the device loop (virtio-fs
    /// only answers queue notifications).
    var eventDrivenDevice: (any EventDrivenDevice)? {
        switch self {
        case .block(let block): block
        case .net(let net): net
        case .vsock(let vsock): vsock
        case .rng(let rng): rng
        case .fs, .serial, .i8042, .bootTimer, .sleepControl, .pvpanic: nil
        }
    }
}
