import Devices
#if canImport(Glibc)
import Glibc
#endif

/// Where the guest's serial console goes: kiln's standard output, or a file.
enum SerialSink {
    static func open(_ path: String?) throws(VMMError) -> FileDescriptorOutput {
        guard let path else { return FileDescriptorOutput(fileDescriptor: 1) }
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .file(operation: "open serial output", path: path, errno: errno) }
        return FileDescriptorOutput(fileDescriptor: fd)
    }
}
