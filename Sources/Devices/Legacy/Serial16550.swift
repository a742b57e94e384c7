import Synchronization

/// A 16550A UART (COM1 at port 0x3f8, IRQ 4 on a PC), in the manner of vm-superio's `Serial`.
///
/// The guest drives it through `read`/`write` from its vCPU threads; the host feeds keyboard
/// input with `enqueue(input:)` from its stdin thread. One lock guards the registers.
///
/// Interrupts: the UART's INTR output is the OR of the enabled pending conditions (line
/// status, received data, THR empty). `trigger()` is called when that output rises, i.e. when
/// a condition becomes newly pending while enabled, never while it merely persists. The guest's
/// handler reads IIR until it reports nothing, so no condition is lost.
///
/// Output: transmitted bytes are batched and handed to `output` at each newline, every 64
/// bytes, on any IER write and on `flush()`. The guest sees each byte sent at once (THRE never
/// clears). The VMM calls `flush()` when the VM stops, so output with no newline is not lost.
public final class Serial16550: BusDevice {
    /// The UART decodes eight consecutive ports.
    public static let registerCount: UInt64 = 8
    public static let receiveFIFOCapacity = UARTState.receiveCapacity

    let state = Mutex(UARTState())
    private let interrupt: any InterruptLine
    let output: any SerialOutput
    private let onReceiveSpace: @Sendable () -> Void

    /// - Parameter onReceiveSpace: called (outside the lock, on the guest's vCPU thread) when
    ///   the guest has emptied a receive FIFO that earlier refused input, so the VMM can wake
    ///   its stdin loop and offer the rest.
    public init(
        interrupt: any InterruptLine,
        output: any SerialOutput,
        onReceiveSpace: @escaping @Sendable () -> Void = {}
    ) {
        self.interrupt = interrupt
        self.output = output
        self.onReceiveSpace = onReceiveSpace
    }

    /// Registers are a byte wide; a wider access acts as consecutive byte accesses, as the
    /// ISA bus would split it. Offsets past the last register read 0xFF.
    public func read(offset: UInt64, data: UnsafeMutableRawBufferPointer) {
        let (raise, space) = state.withLock { state in
            let before = state.interruptPending
            for index in data.indices {
                data[index] = state.read(offset &+ UInt64(index))
            }
            return (!before && state.interruptPending, state.takeReceiveSpaceSignal())
        }
        if raise { interrupt.trigger() }
        if space { onReceiveSpace() }
    }

    public func write(offset: UInt64, data: UnsafeRawBufferPointer) {
        let (raise, space) = state.withLock { state in
            let before = state.interruptPending
            for index in data.indices {
                state.write(offset &+ UInt64(index), data[index])
                if state.flushRequested { state.drainStagedOutput { output.write($0) } }
            }
            return (!before && state.interruptPending, state.takeReceiveSpaceSignal())
        }
        if raise { interrupt.trigger() }
        if space { onReceiveSpace() }
    }

    /// Puts host input into the receive FIFO. Takes at most what fits (none in loopback mode)
    /// and returns how many bytes it took; the caller keeps the rest and offers them again
    /// after `onReceiveSpace`.
    @discardableResult
    public func enqueue(input: UnsafeRawBufferPointer) -> Int {
        let (taken, raise) = state.withLock { state in
            let before = state.interruptPending
            let taken = state.enqueue(input)
            return (taken, !before && state.interruptPending)
        }
        if raise { interrupt.trigger() }
        return taken
    }

    /// Writes out transmitted bytes still batched in the device.
    public func flush() {
        state.withLock { state in state.drainStagedOutput { output.write($0) } }
    }

    public var counters: SerialCounters {
        state.withLock { $0.counters }
    }
}
