import Glibc
import SandboxHost

/// The runtime's state root (`--root`, default /run/kiln-oci): one private directory per
/// container id, holding container.json, the exec FIFO until `start`, and the VMM's run
/// directory contents (vsock socket, console, log, TAP record, jail, rootfs image). The root is
/// made 0700 and checked to be ours, so nothing in it was planted by another user.
public struct ContainerStore: Sendable {
    public let root: String

    public static let defaultRoot = "/run/kiln-oci"
    public static let recordName = "container.json"
    public static let fifoName = "exec.fifo"
    public static let pausedName = "paused"
    /// Exec relays record themselves as `exec.<pid>` (their identity), for `ps`.
    public static let execPrefix = "relay.exec."

    public init(root: String) {
        var root = root
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        self.root = root
    }

    /// Makes the root (and missing parents) 0700 and checks it is a directory of ours that no
    /// one else may write to.
    public func prepareRoot() throws(OCIRuntimeError) {
        var prefix = root.hasPrefix("/") ? "" : "."
        for component in root.split(separator: "/") {
            prefix += "/\(component)"
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST { throw .system(operation: "mkdir", path: prefix, errno: errno) }
        }
        try checkRoot()
    }

    func checkRoot() throws(OCIRuntimeError) {
        var info = stat()
        guard lstat(root, &info) == 0 else { throw .system(operation: "lstat", path: root, errno: errno) }
        guard (info.st_mode & S_IFMT) == S_IFDIR, info.st_uid == geteuid(), info.st_mode & 0o022 == 0 else {
            throw .host(.notOwned(path: root, reason: "not a directory owned by uid \(geteuid()) and writable only by it"))
        }
    }

    public func directory(_ id: String) -> RunDirectory { RunDirectory(parent: root, name: id, private: true) }

    /// Makes the container's state directory (0700); an existing one is a duplicate id.
    public func claim(_ id: String) throws(OCIRuntimeError) -> RunDirectory {
        if let problem = ContainerID.problem(id) { throw .badID(id: id, problem: problem) }
        try prepareRoot()
        let directory = directory(id)
        let socket = directory.file(RunDirectory.socketName)
        guard socket.utf8.count <= RunDirectory.socketPathLimit else {
            throw .host(.socketPathTooLong(path: socket, limit: RunDirectory.socketPathLimit))
        }
        guard mkdir(directory.path, 0o700) == 0 else {
            if errno == EEXIST { throw .exists(id: id) }
            throw .system(operation: "mkdir", path: directory.path, errno: errno)
        }
        do {
            try CreationJournal.recordCreator(in: directory)
        } catch {
            try? directory.remove()
            throw error
        }
        return directory
    }

    /// The container `id` as its state directory records it.
    public func load(_ id: String) throws(OCIRuntimeError) -> Container {
        if let problem = ContainerID.problem(id) { throw .badID(id: id, problem: problem) }
        let directory = directory(id)
        let owned: OwnedDirectory
        do {
            owned = try directory.open()
        } catch {
            if case .system(_, _, ENOENT) = error { throw .notFound(id: id) }
            throw .host(error)
        }
        let record = owned.readOwnedFile(Self.recordName, limit: 1 << 20).flatMap(ContainerRecord.parse)
        return Container(id: id, directory: directory, record: record, journal: CreationJournal.read(owned),
                         ageSeconds: owned.ageSeconds,
                         started: access(directory.file(Self.fifoName), F_OK) != 0,
                         paused: access(directory.file(Self.pausedName), F_OK) == 0)
    }

    /// The containers whose `create` died before recording them (CreationJournal.isAbandoned):
    /// no engine knows them (their create failed), so `kiln gc` removes them.
    public func abandoned() -> [Container] {
        guard (try? checkRoot()) != nil else { return [] }
        return ids().compactMap { try? load($0) }.filter(\.isAbandoned)
    }

    /// Every container id with a state directory, sorted.
    public func ids() -> [String] {
        FileText.entries(root).filter { ContainerID.problem($0) == nil }.sorted()
    }
}

/// One container as loaded from its state directory.
public struct Container: Sendable {
    public let id: String
    public let directory: RunDirectory
    /// nil while `create` has not finished (or it died before it could record the container).
    public let record: ContainerRecord?
    /// What `create` recorded before each step (all there is when it died before `record`).
    public let journal: CreationJournal.Entries
    /// Seconds since the state directory last changed.
    public let ageSeconds: Int
    public let started: Bool
    public let paused: Bool

    /// The VMM and the relay, from container.json or, before it exists, from the journal.
    public var vmm: ProcessIdentity? { record?.vmm ?? journal.vmm }
    public var relay: ProcessIdentity? { record?.relay ?? journal.relay }
    /// The network namespace its TAP is in (nil: the runtime's own).
    public var netns: String? { record?.netns ?? journal.netns }

    public var isAbandoned: Bool {
        CreationJournal.isAbandoned(recorded: record != nil, creatorAlive: journal.creator?.isAlive, ageSeconds: ageSeconds)
    }

    public var status: ContainerStatus {
        ContainerStatus.derive(recorded: record != nil, relayAlive: record?.relay.isAlive ?? false,
                               vmmAlive: record?.vmm.isAlive ?? false, started: started, paused: paused)
    }

    /// runtime-spec's state: ociVersion, id, status, pid (while it runs), bundle, annotations;
    /// plus runc's `created`.
    public func stateJSON() -> JSONOutput {
        let status = self.status
        var members: [(String, JSONOutput)] = [("ociVersion", .string(Features.ociVersionMax)), ("id", .string(id)),
                                               ("status", .string(status.rawValue))]
        if let record, status != .stopped { members.append(("pid", .int(Int64(record.relay.pid)))) }
        else { members.append(("pid", .int(0))) }
        members.append(("bundle", .string(record?.bundle ?? "")))
        members.append(("rootfs", .string(record.map { $0.bundle + "/rootfs" } ?? "")))
        members.append(("created", .string(record?.created ?? RuntimeLog.rfc3339(seconds: 0))))
        if let record, !record.annotations.isEmpty { members.append(("annotations", .map(record.annotations))) }
        members.append(("owner", .string("")))
        return .object(members)
    }

    /// The exec relays still alive (pid, identity file name), for `ps` and `kill --all`.
    public func execRelays() -> [ProcessIdentity] {
        FileText.entries(directory.path).filter { $0.hasPrefix(ContainerStore.execPrefix) && !$0.hasSuffix(".tmp") }.compactMap {
            FileText.read(directory.file($0), limit: 128).flatMap(ProcessIdentity.init(text:))
        }.filter(\.isAlive)
    }
}
