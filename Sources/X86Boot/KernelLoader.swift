import GuestMemory

/// Loads a kernel image into guest memory, choosing the loader by the image's magic.
/// Loading only places the kernel; the zero page, command line and tables are written by
/// `BootConfigurator`, as in rust-vmm's linux-loader.
public enum KernelLoader {
    public static func load(_ image: UnsafeRawBufferPointer, into memory: GuestMemory) throws(BootError) -> LoadedKernel {
        if ELFLoader.hasMagic(image) { return try ELFLoader.load(image, into: memory) }
        if BzImageLoader.hasMagic(image) { return try BzImageLoader.load(image, into: memory) }
        throw .unknownImageFormat
    }
}
