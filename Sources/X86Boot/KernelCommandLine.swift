import GuestMemory

/// The kernel command line, written NUL-terminated at `Layout.commandLine`.
public enum KernelCommandLine {
    /// Writes `text` and returns the bytes written, NUL included.
    public static func write(_ text: String, maxLength: Int, to memory: GuestMemory) throws(BootError) -> Int {
        var bytes = Array(text.utf8)
        // An embedded NUL would silently cut the command line short in the guest.
        if let nul = bytes.firstIndex(of: 0) { throw .commandLineContainsNUL(offset: nul) }
        guard bytes.count <= maxLength else { throw .commandLineTooLong(length: bytes.count, maximum: maxLength) }
        bytes.append(0)
        try inGuest { () throws(GuestMemoryError) in try memory.write(bytes, to: Layout.commandLine) }
        return bytes.count
    }
}
