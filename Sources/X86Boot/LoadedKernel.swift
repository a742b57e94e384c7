import GuestMemory

/// What a kernel loader leaves behind for the boot configuration: where to jump and which
/// memory the kernel claims.
public struct LoadedKernel: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// An ELF `vmlinux` or test guest, loaded segment by segment at `p_paddr`.
        case elf
        /// A bzImage whose protected-mode part was loaded at `loadAddress`.
        case bzImage
    }

    public let kind: Kind
    /// 64-bit entry point (ELF `e_entry`; bzImage load address + 0x200, i.e. `startup_64`).
    public let entry: GuestAddress
    /// Lowest guest address the kernel was loaded at.
    public let loadAddress: GuestAddress
    /// One past the highest guest address the kernel occupies or needs (`init_size` for a
    /// bzImage): the initrd must start at or above it.
    public let end: GuestAddress
    /// The image's setup header (bzImage only); the zero page starts from a copy of it.
    public let setupHeader: SetupHeader?

    public init(kind: Kind, entry: GuestAddress, loadAddress: GuestAddress, end: GuestAddress,
                setupHeader: SetupHeader?) {
        self.kind = kind
        self.entry = entry
        self.loadAddress = loadAddress
        self.end = end
        self.setupHeader = setupHeader
    }

    /// Highest address the initrd may occupy (inclusive), as the kernel reports it.
    public var initrdAddressMax: UInt32 {
        setupHeader?.initrdAddressMax ?? SetupHeader.defaultInitrdAddressMax
    }

    /// Longest command line (without NUL) this kernel and Kiln's layout both accept.
    public var commandLineMaxLength: Int {
        let layoutLimit = Int(Layout.commandLineMaxSize) - 1
        guard let header = setupHeader else { return layoutLimit }
        return min(layoutLimit, Int(header.commandLineSize))
    }
}
