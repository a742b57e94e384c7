import Devices
#if canImport(Glibc)
import Glibc
#endif

/// Where the guest's serial console goes: kiln's standard output, or a file.
enum SerialSink {
    /// `limit` caps what is kept (see `CappedSerialOutput`); nil keeps everything.
    static func open(_ path: String?, limit: UInt64?) throws(VMMError) -> any SerialOutput {
        let output: FileDescriptorOutput
        if let path {
            let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw .file(operation: "open serial output", path: path, errno: errno) }
            output = FileDescriptorOutput(fileDescriptor: fd)
        } else {
            output = FileDescriptorOutput(fileDescriptor: 1)
        }
        guard let limit else { return output }
        return CappedSerialOutput(output, limit: limit)
    }
}
