import Glibc

/// The private directory of one `kiln run`: the VMM's vsock socket, console and log (and the
/// name of its TAP with --net, and the jail). Named `<parent>/kiln-run.<pid>.<random>`, parent
/// $TMPDIR or /tmp, so a later run can find what a killed run left behind. A sandbox's state
/// directory (`kiln create`) is one too, named after the sandbox in the store's root.
public struct RunDirectory: Sendable {
    public static let prefix = "kiln-run."
    /// The VMM's vsock socket; its path must fit a Unix socket address.
    public static let socketName = "vsock.sock"
    /// The VMM's API socket (`kiln create`'s VMM has one, for `kiln snapshot`); shorter than
    /// the vsock socket's name, so it fits wherever that does.
    public static let apiSocketName = "api.sock"
    /// sun_path holds 108 bytes, the last a NUL.
    public static let socketPathLimit = 107

    /// The directory holding it.
    public let parent: String
    public let name: String
    /// Run directories are checked to have mode 0700 (mkdtemp's) before anything in them is
    /// trusted; sandbox state directories sit in a root that is checked to be private instead.
    let isPrivate: Bool

    public var path: String { "\(parent)/\(name)" }

    public init(parent: String, name: String, private: Bool) {
        self.parent = parent
        self.name = name
        self.isPrivate = `private`
    }

    /// Where run directories go: $TMPDIR when set, else /tmp (without a trailing '/').
    public static func parent(tmpdir: String? = getenv("TMPDIR").map { String(cString: $0) }) -> String {
        var parent = tmpdir ?? ""
        while parent.count > 1 && parent.hasSuffix("/") { parent.removeLast() }
        return parent.isEmpty ? "/tmp" : parent
    }

    /// Makes a new run directory in `parent`, mode 0700. Fails before making anything when the
    /// socket path inside it would be too long for a Unix socket (a long $TMPDIR).
    public static func create(in parent: String = RunDirectory.parent()) throws(SandboxHostError) -> RunDirectory {
        let template = "\(parent)/\(prefix)\(getpid()).XXXXXX"
        let socket = "\(template)/\(socketName)"
        guard socket.utf8.count <= socketPathLimit else { throw .socketPathTooLong(path: socket, limit: socketPathLimit) }
        var bytes = Array(template.utf8CString)
        guard let made = bytes.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw .system(operation: "mkdtemp", path: template, errno: errno)
        }
        let path = String(cString: made)
        return RunDirectory(parent: parent, name: String(path.dropFirst(parent.count + 1)), private: true)
    }

    public func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Opens it, checked to be kiln's (see OwnedDirectory).
    public func open() throws(SandboxHostError) -> OwnedDirectory {
        let parentFD = Glibc.open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard parentFD >= 0 else { throw .system(operation: "open", path: parent, errno: errno) }
        defer { close(parentFD) }
        return try OwnedDirectory.open(name: name, in: parentFD, path: path, private: isPrivate)
    }

    /// Deletes the TAP recorded in it (`--net`), then removes it and everything in it (a jail,
    /// if the VMM was jailed), relative to descriptors and without following links. Nothing
    /// happens to a directory that is not kiln's (OwnedDirectory). A TAP that cannot be
    /// deleted yet (still attached) keeps the directory, so `kiln gc` can try again: that
    /// error is thrown. Removing a directory that is already gone succeeds.
    public func remove() throws(SandboxHostError) {
        let parentFD = Glibc.open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard parentFD >= 0 else {
            if errno == ENOENT { return }
            throw .system(operation: "open", path: parent, errno: errno)
        }
        defer { close(parentFD) }
        let directory: OwnedDirectory
        do {
            directory = try OwnedDirectory.open(name: name, in: parentFD, path: path, private: isPrivate)
        } catch {
            if case .system(_, _, ENOENT) = error { return }
            throw error
        }
        try TapRecord.release(in: directory)
        directory.removeContents()
        // The entry is still the directory checked above: it is ours, and in a sticky /tmp or a
        // private parent nobody else can rename it; AT_REMOVEDIR never removes a link or a file.
        guard unlinkat(parentFD, name, AT_REMOVEDIR) == 0 || errno == ENOENT else {
            throw .system(operation: "rmdir", path: path, errno: errno)
        }
    }
}
