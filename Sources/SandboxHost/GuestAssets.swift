import Glibc

/// Where kiln keeps the guest kernel and the agent initramfs it boots every sandbox with, so a
/// `kiln run` needs neither flags nor environment once `kiln setup` has installed them:
/// `/var/lib/kiln` as root, else `$XDG_DATA_HOME/kiln` (`~/.local/share/kiln`);
/// `$KILN_DATA_DIR` moves it. The image store lives beside them (`images/`).
public struct GuestAssets: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    public static let kernelName = "vmlinux"
    public static let agentInitrdName = "agent-initrd.cpio"

    public var kernel: String { "\(directory)/\(Self.kernelName)" }
    public var agentInitrd: String { "\(directory)/\(Self.agentInitrdName)" }

    public static func defaultDirectory(environment: [String: String], isRoot: Bool) -> String {
        if let directory = environment["KILN_DATA_DIR"], !directory.isEmpty { return directory }
        if isRoot { return "/var/lib/kiln" }
        if let data = environment["XDG_DATA_HOME"], data.hasPrefix("/") { return data + "/kiln" }
        return (environment["HOME"] ?? "/") + "/.local/share/kiln"
    }

    public static func current() -> GuestAssets {
        var environment: [String: String] = [:]
        for key in ["KILN_DATA_DIR", "XDG_DATA_HOME", "HOME"] {
            if let value = getenv(key) { environment[key] = String(cString: value) }
        }
        return GuestAssets(directory: defaultDirectory(environment: environment, isRoot: geteuid() == 0))
    }

    /// `path` when it is readable there, else nil.
    public static func readable(_ path: String) -> String? { access(path, R_OK) == 0 ? path : nil }

    /// Copies `source` to `name` in the directory (made 0755 if missing): written to a temporary
    /// file beside it, synced and renamed, so a run never boots a half-copied file and a copy
    /// that fails leaves the installed one in place. Returns the installed path.
    @discardableResult
    public func install(_ source: String, as name: String) throws(SandboxHostError) -> String {
        try makeDirectory()
        let destination = "\(directory)/\(name)"
        let temporary = "\(directory)/.\(name).\(getpid()).tmp"
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw .system(operation: "open", path: source, errno: errno) }
        defer { close(input) }
        let output = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw .system(operation: "create", path: temporary, errno: errno) }
        var done = false
        defer {
            close(output)
            if !done { unlink(temporary) }
        }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .system(operation: "read", path: source, errno: errno)
            }
            if count == 0 { break }
            var offset = 0
            while offset < count {
                let written = buffer.withUnsafeBytes { write(output, $0.baseAddress! + offset, count - offset) }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw .system(operation: "write", path: temporary, errno: errno)
                }
                offset += written
            }
        }
        guard fsync(output) == 0 else { throw .system(operation: "fsync", path: temporary, errno: errno) }
        guard rename(temporary, destination) == 0 else { throw .system(operation: "rename", path: destination, errno: errno) }
        done = true
        return destination
    }

    private func makeDirectory() throws(SandboxHostError) {
        var path = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") {
            path += "/" + component
            if mkdir(path, 0o755) != 0 && errno != EEXIST { throw .system(operation: "mkdir", path: path, errno: errno) }
        }
    }
}
