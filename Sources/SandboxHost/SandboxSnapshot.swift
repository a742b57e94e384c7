import Glibc

/// A snapshot of a sandbox (`kiln snapshot NAME DIR`), as its directory records it: the VMM's
/// state and memory files (`PUT /snapshot/create`), the scratch disk when the sandbox has one
/// (copied while the VM was paused, so it matches the memory), and `sandbox`, this record: the
/// image the VM's read-only root disk is (its store id, or the file's size and mtime, checked
/// before a restore: the guest's page cache holds blocks of exactly that file), vCPUs and
/// memory, and whether the VMM was jailed (the disks' paths in the state file are the jail's).
public struct SandboxSnapshot: Sendable, Equatable {
    public static let stateName = "snapshot.state"
    public static let memoryName = "snapshot.mem"
    public static let recordName = "sandbox"
    /// The state file holds registers and device state: a few hundred KiB at most.
    static let maxStateBytes: Int64 = 64 << 20

    /// The root disk's host path (in the image store for an image).
    public var rootfs: String
    public var rootfsSize: Int64
    public var rootfsModified: Int64
    /// The image's store id and name, when the sandbox ran one.
    public var imageID: String?
    public var imageName: String?
    public var cpus: Int
    public var memoryMiB: Int
    public var scratchDisk: Bool
    public var jailed: Bool

    public init(rootfs: String, rootfsSize: Int64, rootfsModified: Int64, imageID: String?, imageName: String?,
                cpus: Int, memoryMiB: Int, scratchDisk: Bool, jailed: Bool) {
        self.rootfs = rootfs
        self.rootfsSize = rootfsSize
        self.rootfsModified = rootfsModified
        self.imageID = imageID
        self.imageName = imageName
        self.cpus = cpus
        self.memoryMiB = memoryMiB
        self.scratchDisk = scratchDisk
        self.jailed = jailed
    }

    public var text: String {
        "format=1\nrootfs=\(rootfs)\nrootfs-size=\(rootfsSize)\nrootfs-mtime=\(rootfsModified)\n"
            + (imageID.map { "image-id=\($0)\n" } ?? "") + (imageName.map { "image=\($0)\n" } ?? "")
            + "cpus=\(cpus)\nmemory=\(memoryMiB)\nscratch-disk=\(scratchDisk ? 1 : 0)\njailed=\(jailed ? 1 : 0)\n"
    }

    /// Parses a record; nil, with the problem, when a field is missing or malformed.
    public static func parse(_ text: String) -> (snapshot: SandboxSnapshot?, problem: String?) {
        let fields = SandboxConfigText.fields(text)
        guard fields["format"] == "1" else { return (nil, "not a kiln sandbox snapshot record (format \(fields["format"] ?? "missing"))") }
        guard let rootfs = fields["rootfs"], rootfs.hasPrefix("/") else { return (nil, "rootfs: missing or not an absolute path") }
        guard let size = fields["rootfs-size"].flatMap({ Int64($0) }), let mtime = fields["rootfs-mtime"].flatMap({ Int64($0) }) else {
            return (nil, "rootfs-size/rootfs-mtime: missing or not numbers")
        }
        guard let cpus = fields["cpus"].flatMap({ Int($0) }), (1...64).contains(cpus) else { return (nil, "cpus: missing or not 1 to 64") }
        guard let memory = fields["memory"].flatMap({ Int($0) }), (1...(1 << 26)).contains(memory) else {
            return (nil, "memory: missing or out of range")
        }
        guard let scratch = fields["scratch-disk"], scratch == "0" || scratch == "1",
              let jailed = fields["jailed"], jailed == "0" || jailed == "1" else {
            return (nil, "scratch-disk/jailed: missing or not 0/1")
        }
        return (SandboxSnapshot(rootfs: rootfs, rootfsSize: size, rootfsModified: mtime, imageID: fields["image-id"],
                                imageName: fields["image"], cpus: cpus, memoryMiB: memory, scratchDisk: scratch == "1",
                                jailed: jailed == "1"), nil)
    }

    /// The record of snapshot directory `directory`, checked: the files are there, the root
    /// disk is the same file it was. Throws a one-line problem otherwise.
    public static func load(_ directory: String) throws(SandboxHostError) -> SandboxSnapshot {
        guard let text = FileText.read("\(directory)/\(recordName)", limit: 16384) else {
            throw .snapshot("--from \(directory): no snapshot record (\(recordName)) there; `kiln snapshot NAME DIR` makes one")
        }
        let (parsed, problem) = parse(text)
        guard let snapshot = parsed else { throw .snapshot("--from \(directory): \(recordName): \(problem ?? "malformed")") }
        var names = [stateName, memoryName]
        if snapshot.scratchDisk { names.append(ScratchDisk.fileName) }
        for name in names {
            var info = stat()
            guard lstat("\(directory)/\(name)", &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
                throw .snapshot("--from \(directory): \(name) is missing or not a regular file")
            }
        }
        var info = stat()
        guard stat(snapshot.rootfs, &info) == 0 else {
            throw .snapshot("--from \(directory): its root disk \(snapshot.rootfs) is gone: \(String(cString: strerror(errno)))")
        }
        guard Int64(info.st_size) == snapshot.rootfsSize, Int64(info.st_mtim.tv_sec) == snapshot.rootfsModified else {
            throw .snapshot("--from \(directory): its root disk \(snapshot.rootfs) changed since the snapshot (size or mtime); "
                            + "the guest's cached blocks of it would be wrong")
        }
        return snapshot
    }
}

/// The `key=value` lines of a sandbox's `config` or a snapshot's record (the first of each key).
enum SandboxConfigText {
    static func fields(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<eq])
            if fields[key] == nil { fields[key] = String(line[line.index(after: eq)...]) }
        }
        return fields
    }

    static func hasKey(_ text: String, _ key: String) -> Bool {
        text.split(separator: "\n").contains { $0.hasPrefix(key + "=") }
    }
}
