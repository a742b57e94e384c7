import Synchronization

/// The PS/2 controller at ports 0x60 (data) and 0x64 (status/command), as far as a Linux guest
/// needs it: its probe and controller setup succeed without timeouts, a keyboard that
/// acknowledges every command, and command 0xFE, the CPU reset pulse that `reboot=k` uses to
/// end the VM. Modelled on Firecracker's i8042.
///
/// Insert it as one window of `windowLength` ports starting at 0x60, so that the status port
/// is at offset 4.
public final class I8042: BusDevice {
    public static let dataOffset: UInt64 = 0
    /// Status on read, controller command on write.
    public static let commandOffset: UInt64 = 4
    public static let windowLength: UInt64 = 5

    let state = Mutex(I8042State())
    private let keyboardInterrupt: (any InterruptLine)?
    private let onReset: @Sendable () -> Void

    /// - Parameters:
    ///   - keyboardInterrupt: IRQ 1. Without it the guest's keyboard driver waits for
    ///     acknowledgements by timeout; boot still completes.
    ///   - onReset: called, on the vCPU thread, every time the guest pulses the reset line
    ///     (Linux tries several times), so it must be idempotent.
    public init(keyboardInterrupt: (any InterruptLine)? = nil, onReset: @escaping @Sendable () -> Void) {
        self.keyboardInterrupt = keyboardInterrupt
        self.onReset = onReset
    }

    /// Ports are a byte wide; a wider access acts as consecutive byte accesses.
    public func read(offset: UInt64, data: UnsafeMutableRawBufferPointer) {
        let raise = state.withLock { state in
            var raise = false
            for index in data.indices {
                let (byte, more) = state.read(offset &+ UInt64(index))
                data[index] = byte
                raise = raise || more
            }
            return raise
        }
        if raise { keyboardInterrupt?.trigger() }
    }

    public func write(offset: UInt64, data: UnsafeRawBufferPointer) {
        var raise = false
        var reset = false
        state.withLock { state in
            for index in data.indices {
                switch state.write(offset &+ UInt64(index), data[index]) {
                case .none: break
                case .keyboardData: raise = true
                case .resetCPU: reset = true
                }
            }
        }
        if raise { keyboardInterrupt?.trigger() }
        if reset { onReset() }
    }

    /// Queues the scan codes of Ctrl+Alt+Del for the guest, which Linux turns into an orderly
    /// reboot (Firecracker's SendCtrlAltDel). False if the output buffer has no room.
    @discardableResult
    public func pressCtrlAltDel() -> Bool {
        let (queued, effect) = state.withLock { $0.pushKeys(I8042State.ctrlAltDelete) }
        if case .keyboardData = effect { keyboardInterrupt?.trigger() }
        return queued
    }
}
