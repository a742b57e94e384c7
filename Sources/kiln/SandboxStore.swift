import Glibc
import Sandbox

/// Where long-lived sandboxes (`kiln create`) are recorded: one directory per name holding
/// `creator` (pid of the `kiln create` that made it), `vmm` (the VMM's ProcessIdentity),
/// `created` (epoch seconds), `config`, and the VMM's vsock socket, console and log.
struct SandboxStore {
    let root: String

    /// $KILN_SANDBOX_DIR; as root /run/kiln/sandboxes (when /run is writable: a read-only root
    /// such as the E2E harness's L1 has none); else $XDG_RUNTIME_DIR/kiln/sandboxes; else
    /// /tmp/kiln-sandboxes-<uid>.
    static func current() -> SandboxStore {
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
    static func nameProblem(_ name: String) -> String? {
        guard (1...64).contains(name.utf8.count) else { return "a sandbox name has 1 to 64 characters" }
        let allowed = name.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x2d }
        return allowed ? nil : "a sandbox name has only letters, digits and '-'"
    }

    func path(of name: String) -> String { "\(root)/\(name)" }

    /// Makes the state directory of a new sandbox; a one-line error if the name is taken.
    /// mkdir is the atomic claim, so two concurrent creates of one name cannot both succeed.
    func claim(_ name: String) -> RunDirectory {
        makeRoot()
        let dir = path(of: name)
        guard mkdir(dir, 0o700) == 0 else {
            if errno == EEXIST {
                let state = load(name)?.state ?? .dead
                fail("sandbox \(name) already exists (\(state)); remove it with `kiln rm \(name)`")
            }
            fail("cannot create \(dir): \(String(cString: strerror(errno)))")
        }
        _ = FileText.write("\(dir)/creator", "\(getpid())\n")
        return RunDirectory(path: dir)
    }

    /// The root, owned by us and private (0700), so no other user can plant state in it.
    private func makeRoot() {
        var prefix = ""
        for component in root.split(separator: "/") {
            prefix += "/\(component)"
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                fail("cannot create \(prefix): \(String(cString: strerror(errno)))")
            }
        }
        var info = stat()
        guard lstat(root, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR, info.st_uid == geteuid() else {
            fail("\(root): not a directory owned by uid \(geteuid())")
        }
    }

    func load(_ name: String) -> SandboxRecord? {
        let dir = path(of: name)
        var info = stat()
        guard lstat(dir, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { return nil }
        return SandboxRecord(
            name: name, path: dir,
            vmm: FileText.read("\(dir)/vmm").flatMap(ProcessIdentity.init(text:)),
            creator: FileText.read("\(dir)/creator").flatMap { pid_t($0.split(separator: "\n").first ?? "") },
            created: FileText.read("\(dir)/created").flatMap { Int($0.split(separator: "\n").first ?? "") }
                ?? Int(info.st_mtim.tv_sec))
    }

    /// The sandbox `name`, or a one-line error if the name is bad or unknown.
    func lookup(_ name: String) -> SandboxRecord {
        if let problem = Self.nameProblem(name) { fail("sandbox name '\(name)': \(problem)") }
        guard let record = load(name) else { fail("no sandbox named \(name) (see `kiln ls`)") }
        return record
    }

    /// Every recorded sandbox, by name.
    func all() -> [SandboxRecord] {
        FileText.entries(root).filter { Self.nameProblem($0) == nil }.sorted().compactMap(load)
    }
}

struct SandboxRecord {
    enum State: CustomStringConvertible {
        case alive, starting, dead
        var description: String {
            switch self {
            case .alive: "alive"
            case .starting: "starting"
            case .dead: "dead"
            }
        }
    }

    let name: String
    let path: String
    let vmm: ProcessIdentity?
    let creator: pid_t?
    let created: Int

    var endpoint: AgentEndpoint { .hybridVsock(udsPath: "\(path)/vsock.sock") }

    /// Alive while its VMM runs; starting while `kiln create` has not recorded the VMM yet;
    /// dead otherwise (the VMM ended or was killed, or its creator died before recording it).
    var state: State {
        if let vmm { return vmm.isAlive ? .alive : .dead }
        if let creator, creator > 0, kill(creator, 0) == 0 || errno == EPERM { return .starting }
        // Just made, creator file not written yet.
        if creator == nil && time(nil) - created < 10 { return .starting }
        return .dead
    }
}
