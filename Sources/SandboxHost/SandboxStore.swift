import Glibc

/// Where long-lived sandboxes (`kiln create`) are recorded: one directory per name holding
/// `creator` (pid of the `kiln create` that made it), `vmm` (the VMM's ProcessIdentity),
/// `created` (epoch seconds), `config`, and the VMM's vsock socket, console and log.
public struct SandboxStore: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    /// $KILN_SANDBOX_DIR; as root /run/kiln/sandboxes (when /run is writable: a read-only root
    /// such as the E2E harness's L1 has none); else $XDG_RUNTIME_DIR/kiln/sandboxes; else
    /// /tmp/kiln-sandboxes-<uid>.
    public static func current() -> SandboxStore {
        if let dir = environment("KILN_SANDBOX_DIR") { return SandboxStore(root: dir) }
        if geteuid() == 0 && (access("/run/kiln", W_OK) == 0 || access("/run", W_OK) == 0) {
            return SandboxStore(root: "/run/kiln/sandboxes")
        }
        if let runtime = environment("XDG_RUNTIME_DIR") { return SandboxStore(root: "\(runtime)/kiln/sandboxes") }
        return SandboxStore(root: "/tmp/kiln-sandboxes-\(geteuid())")
    }

    private static func environment(_ name: String) -> String? {
        guard let value = getenv(name).map({ String(cString: $0) }), !value.isEmpty else { return nil }
        return value
    }

    /// Why `name` cannot name a sandbox (it becomes a path component), or nil: 1 to 64
    /// characters, ASCII letters, digits and '-', as the jailer's --id.
    public static func nameProblem(_ name: String) -> String? {
        guard (1...64).contains(name.utf8.count) else { return "a sandbox name has 1 to 64 characters" }
        let allowed = name.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x2d }
        return allowed ? nil : "a sandbox name has only letters, digits and '-'"
    }

    public func path(of name: String) -> String { "\(root)/\(name)" }

    func directory(of name: String) -> RunDirectory { RunDirectory(parent: root, name: name, private: false) }

    /// Makes the state directory of a new sandbox. mkdir is the atomic claim, so two
    /// concurrent creates of one name cannot both succeed.
    public func claim(_ name: String) throws(SandboxHostError) -> RunDirectory {
        if let problem = Self.nameProblem(name) { throw .badSandboxName(name: name, problem: problem) }
        try makeRoot()
        let dir = path(of: name)
        let socket = "\(dir)/\(RunDirectory.socketName)"
        guard socket.utf8.count <= RunDirectory.socketPathLimit else {
            throw .socketPathTooLong(path: socket, limit: RunDirectory.socketPathLimit)
        }
        guard mkdir(dir, 0o700) == 0 else {
            if errno == EEXIST { throw .sandboxExists(name: name, state: load(name)?.state ?? .dead) }
            throw .system(operation: "mkdir", path: dir, errno: errno)
        }
        _ = FileText.write("\(dir)/creator", "\(getpid())\n")
        return directory(of: name)
    }

    /// Creates the root, owned by us and private (0700), so no other user can plant state in it.
    private func makeRoot() throws(SandboxHostError) {
        var prefix = ""
        for component in root.split(separator: "/") {
            prefix += "/\(component)"
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST { throw .system(operation: "mkdir", path: prefix, errno: errno) }
        }
        try checkRoot()
    }

    /// The root must be a directory (not a link) owned by kiln's uid that no one else may
    /// write to: what is in it is then kiln's.
    func checkRoot() throws(SandboxHostError) {
        var info = stat()
        guard lstat(root, &info) == 0 else { throw .system(operation: "lstat", path: root, errno: errno) }
        guard (info.st_mode & S_IFMT) == S_IFDIR, info.st_uid == geteuid() else {
            throw .notOwned(path: root, reason: "not a directory owned by uid \(geteuid())")
        }
        guard info.st_mode & 0o022 == 0 else {
            throw .notOwned(path: root, reason: "writable by other users (mode \(String(info.st_mode & 0o7777, radix: 8)))")
        }
    }

    public func load(_ name: String) -> SandboxRecord? {
        let dir = path(of: name)
        var info = stat()
        guard lstat(dir, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { return nil }
        return SandboxRecord(
            name: name, directory: directory(of: name),
            vmm: FileText.read("\(dir)/vmm").flatMap(ProcessIdentity.init(text:)),
            creator: FileText.read("\(dir)/creator").flatMap { pid_t($0.split(separator: "\n").first ?? "") },
            created: FileText.read("\(dir)/created").flatMap { Int($0.split(separator: "\n").first ?? "") }
                ?? Int(info.st_mtim.tv_sec))
    }

    /// The sandbox `name`; throws when the name is bad or unknown.
    public func record(named name: String) throws(SandboxHostError) -> SandboxRecord {
        if let problem = Self.nameProblem(name) { throw .badSandboxName(name: name, problem: problem) }
        guard let record = load(name) else { throw .noSandbox(name: name) }
        return record
    }

    /// Every recorded sandbox, by name.
    public func all() -> [SandboxRecord] {
        FileText.entries(root).filter { Self.nameProblem($0) == nil }.sorted().compactMap(load)
    }

    /// State directories of sandboxes whose VMM is gone; none when the root is not kiln's.
    func deadSandboxes() -> [RunDirectory] {
        guard (try? checkRoot()) != nil else { return [] }
        return all().filter { $0.state == .dead }.map(\.directory)
    }

    /// Removes a sandbox's state directory (with its TAP and jail), fd-relative (RunDirectory.remove).
    public func remove(_ record: SandboxRecord) throws(SandboxHostError) {
        try checkRoot()
        try record.directory.remove()
    }
}
