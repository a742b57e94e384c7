#if canImport(Glibc)
import Glibc
#endif

/// Reading and writing whole state files. A state file is read in full (bounded by
/// `SnapshotContainer.maxFileSize`, checked from fstat before anything is allocated) and then
/// decoded from memory, so its checksum covers exactly the bytes that are used.
public enum StateFile {
    /// Writes `snapshot` to `path` (created or truncated, mode 0600) and fsyncs it: a state
    /// file that says "done" is on disk.
    public static func write(_ snapshot: MachineSnapshot, toPath path: String) throws(SnapshotError) {
        let bytes = try snapshot.encoded()
        let file = try OpenFile.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC)
        let failure: SnapshotError? = bytes.withUnsafeBytes { buffer in
            do throws(SnapshotError) { try file.borrowed.write(buffer, at: 0) } catch { return error }
            return nil
        }
        if let failure { throw failure }
        guard fsync(file.raw) == 0 else { throw .file(operation: "fsync", path: path, errno: errno) }
    }

    /// The raw bytes of a state file, size-limited.
    public static func readBytes(path: String) throws(SnapshotError) -> [UInt8] {
        let file = try OpenFile.open(path, flags: O_RDONLY)
        let size = try file.size()
        guard size <= SnapshotContainer.maxFileSize else {
            throw .tooLarge(what: "state file \(path)", size: size, limit: SnapshotContainer.maxFileSize)
        }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        let failure: SnapshotError? = bytes.withUnsafeMutableBytes { buffer in
            do throws(SnapshotError) { try file.borrowed.read(into: buffer, at: 0) } catch { return error }
            return nil
        }
        if let failure { throw failure }
        return bytes
    }

    /// Reads and validates a state file (magic, version, length, CRC, structure).
    public static func read(path: String) throws(SnapshotError) -> MachineSnapshot {
        try MachineSnapshot.decode(try readBytes(path: path))
    }
}
