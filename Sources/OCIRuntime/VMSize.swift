/// The VM a container gets: vCPUs, RAM and kernel, from kiln's annotations first, else from
/// `linux.resources`, else kiln's defaults. A container's memory limit is what the workload may
/// use; the guest kernel and agent need some of the VM's RAM too, hence the floor.
public struct VMSize: Equatable, Sendable {
    public var cpus: Int
    public var memoryMiB: Int
    /// io.kiln.kernel; nil: the installed kernel.
    public var kernel: String?

    public static let defaultCPUs = 1
    public static let defaultMemoryMiB = 256
    /// Below this the sandbox kernel, agent and a tmpfs overlay do not fit comfortably.
    public static let memoryFloorMiB = 128
    /// What `kiln boot --cpus` accepts.
    public static let maximumCPUs = 64

    public static let kernelAnnotation = "io.kiln.kernel"
    public static let memoryAnnotation = "io.kiln.memory"
    public static let cpusAnnotation = "io.kiln.cpus"

    /// `hostMemoryMiB`: the host's RAM; a VM may not ask for more.
    public static func of(_ config: OCIConfig, hostMemoryMiB: Int) throws(OCIConfigError) -> VMSize {
        var size = VMSize(cpus: defaultCPUs, memoryMiB: defaultMemoryMiB, kernel: nil)
        let resources = config.resources
        if let limit = resources.memoryLimit, limit > 0 {
            let mib = (limit - 1) / (1 << 20) + 1   // ceil without overflow
            guard mib <= Int64(hostMemoryMiB) else {
                throw .invalid(field: "linux.resources.memory.limit", problem: "\(limit) bytes is more than the host's \(hostMemoryMiB) MiB")
            }
            size.memoryMiB = max(memoryFloorMiB, Int(mib))
        }
        if let quota = resources.cpuQuota, quota > 0 {
            let period = resources.cpuPeriod ?? 100_000
            // ceil(quota / period) vCPUs: a quota of 1.5 CPUs needs two to be usable.
            let (whole, rest) = UInt64(quota).quotientAndRemainder(dividingBy: period)
            let cpus = whole + (rest > 0 ? 1 : 0)
            guard cpus <= UInt64(maximumCPUs) else {
                throw .invalid(field: "linux.resources.cpu.quota", problem: "\(quota)/\(period) is \(cpus) CPUs, more than \(maximumCPUs)")
            }
            size.cpus = max(1, Int(cpus))
        }
        let annotations = config.annotations
        if let text = annotations[memoryAnnotation] {
            guard let mib = Int(text), mib >= memoryFloorMiB, mib <= hostMemoryMiB else {
                throw .invalid(field: "annotations.\(memoryAnnotation)", problem: "\(text): expected MiB from \(memoryFloorMiB) to the host's \(hostMemoryMiB)")
            }
            size.memoryMiB = mib
        }
        if let text = annotations[cpusAnnotation] {
            guard let cpus = Int(text), (1...maximumCPUs).contains(cpus) else {
                throw .invalid(field: "annotations.\(cpusAnnotation)", problem: "\(text): expected 1 to \(maximumCPUs)")
            }
            size.cpus = cpus
        }
        if let kernel = annotations[kernelAnnotation] {
            guard kernel.hasPrefix("/"), !kernel.utf8.contains(0) else {
                throw .invalid(field: "annotations.\(kernelAnnotation)", problem: "\(kernel) is not an absolute path")
            }
            size.kernel = kernel
        }
        return size
    }
}
