import GuestMemory

/// What the VMM needs after the boot is configured.
public struct BootSetup: Sendable, Equatable {
    /// Initial state of the boot vCPU (vCPU 0).
    public let cpu: BootCPUState
    public let initrd: InitrdPlacement?
    /// Bytes of command line written at `Layout.commandLine`, NUL included.
    public let commandLineSize: Int
    public let memoryMap: [E820Entry]
}

/// "Configure the boot": everything around a loaded kernel that the 64-bit Linux boot
/// protocol expects in guest memory — command line, initrd, zero page with the e820 map,
/// identity page tables, GDT/IDT, MP table — and the CPU state to enter it with.
public enum BootConfigurator {
    /// Largest vCPU count the boot tables describe (bounded by the MP table's space).
    public static let maxVcpus = MPTable.maxVcpus

    public static func configure(memory: GuestMemory, kernel: LoadedKernel, initrd: UnsafeRawBufferPointer?,
                                 commandLine: String, vcpuCount: Int) throws(BootError) -> BootSetup {
        guard vcpuCount >= 1, vcpuCount <= maxVcpus else { throw .invalidVcpuCount(vcpuCount, maximum: maxVcpus) }

        let commandLineSize = try KernelCommandLine.write(commandLine, maxLength: kernel.commandLineMaxLength,
                                                          to: memory)
        // An empty initrd is no initrd: the kernel would only complain about a zero-sized one.
        let placement: InitrdPlacement?
        if let initrd, initrd.count > 0 {
            placement = try Initrd.load(initrd, kernel: kernel, memory: memory)
        } else {
            placement = nil
        }

        let memoryMap = E820.map(for: memory)
        var zeroPage = ZeroPage(kernel: kernel)
        zeroPage.setCommandLine(at: Layout.commandLine, size: commandLineSize)
        if let placement { zeroPage.setInitrd(placement) }
        try zeroPage.setMemoryMap(memoryMap)
        try zeroPage.write(to: memory)

        try PageTables.write(to: memory)
        try GDT.write(to: memory)
        try MPTable.write(vcpuCount: vcpuCount, to: memory)

        return BootSetup(cpu: .longModeEntry(at: kernel.entry), initrd: placement,
                         commandLineSize: commandLineSize, memoryMap: memoryMap)
    }
}
