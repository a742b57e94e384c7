import Glibc

/// The running kiln binary: the VMM child runs it again (`kiln boot`), and the jailer copies it.
public enum HostExecutable {
    public static func path() throws(SandboxHostError) -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes {
            readlink("/proc/self/exe", $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count - 1)
        }
        guard n > 0 else { throw .system(operation: "readlink", path: "/proc/self/exe", errno: errno) }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }

    /// The `kiln` binary the VMM child runs: this one, or the `kiln` beside it when the running
    /// program is another front end (kiln-oci, which conmon and containerd call by path).
    public static func kiln() throws(SandboxHostError) -> String {
        let own = try path()
        // Only kiln-oci runs the kiln beside it; kiln itself, whatever its file is called,
        // runs itself.
        guard baseName(own) == "kiln-oci" else { return own }
        return directory(of: own) + "/kiln"
    }

    static func directory(of path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
    }

    static func baseName(_ path: String) -> String { String(path.split(separator: "/").last ?? "") }

    /// A 64-bit ELF without a PT_INTERP program header (no dynamic loader needed).
    static func isStaticELF(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: 64)
        guard pread(fd, &header, 64, 0) == 64, header[0..<4] == [0x7f, 0x45, 0x4c, 0x46], header[4] == 2 else { return false }
        func little(_ bytes: ArraySlice<UInt8>) -> Int { bytes.reversed().reduce(0) { $0 << 8 | Int($1) } }
        let tableOffset = little(header[32..<40]), entrySize = little(header[54..<56]), count = little(header[56..<58])
        guard entrySize >= 4, count < 4096 else { return false }
        var entry = [UInt8](repeating: 0, count: 4)
        for index in 0..<count {
            guard pread(fd, &entry, 4, off_t(tableOffset + index * entrySize)) == 4 else { return false }
            if little(entry[0..<4]) == 3 { return false }   // PT_INTERP
        }
        return true
    }
}
