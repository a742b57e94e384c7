import Glibc
import SandboxHost

/// What `create` is making, written into the container's state directory before each thing
/// exists, so `delete --force` and `kiln gc` can end and remove everything a `create` killed at
/// any point started. container.json comes last; until then these files are all there is:
/// - `creator`: the `create` process (written right after the directory is claimed);
/// - `netns`: the network namespace the TAP goes into (before anything is made there); the TAP
///   itself is recorded by TapRecord while only create's descriptor holds it;
/// - `engine-link`: the engine's interface whose ingress gets the redirect (before tc runs);
/// - `vmm.pid`, `relay.pid`: each process, behind a spawn gate (SpawnRecord): it cannot exec
///   before it is recorded, and exits at the gate when create dies first.
/// The jail, run files and exec FIFO are inside the directory; kiln-oci makes no cgroup.
public enum CreationJournal {
    static let creatorName = "creator"
    static let netnsName = "netns"
    static let engineLinkName = "engine-link"
    public static let vmmName = "vmm.pid"
    public static let relayName = "relay.pid"

    /// A state directory with neither container.json nor a creator record is taken for
    /// abandoned only this long after it was made (its creator may be between mkdir and write).
    static let unrecordedGrace: Int = 60

    public struct Entries: Equatable, Sendable {
        public var creator: ProcessIdentity?
        public var netns: String?
        public var engineLink: String?
        public var vmm: ProcessIdentity?
        public var relay: ProcessIdentity?

        public init(creator: ProcessIdentity? = nil, netns: String? = nil, engineLink: String? = nil,
                    vmm: ProcessIdentity? = nil, relay: ProcessIdentity? = nil) {
            self.creator = creator
            self.netns = netns
            self.engineLink = engineLink
            self.vmm = vmm
            self.relay = relay
        }
    }

    /// Records this process as the directory's creator.
    public static func recordCreator(in directory: RunDirectory) throws(OCIRuntimeError) {
        guard let me = ProcessIdentity.of(getpid()) else { throw .system(operation: "read", path: "/proc/self/stat", errno: errno) }
        try write(directory, creatorName, me.text)
    }

    public static func recordNetworkNamespace(_ path: String, in directory: RunDirectory) throws(OCIRuntimeError) {
        try write(directory, netnsName, path + "\n")
    }

    public static func recordEngineLink(_ name: String, in directory: RunDirectory) throws(OCIRuntimeError) {
        guard isInterfaceName(name) else { throw .failed("network: the engine's interface \"\(name)\" is not an interface name") }
        try write(directory, engineLinkName, name + "\n")
    }

    private static func write(_ directory: RunDirectory, _ name: String, _ text: String) throws(OCIRuntimeError) {
        if let err = FileText.write(directory.file(name), text) { throw .system(operation: "write", path: directory.file(name), errno: err) }
    }

    /// The entries of an opened state directory (files of kiln's own only; a malformed one is
    /// absent).
    static func read(_ directory: borrowing OwnedDirectory) -> Entries {
        func line(_ name: String) -> String? {
            guard let text = directory.readOwnedFile(name, limit: 4096) else { return nil }
            return parseLine(text)
        }
        return Entries(creator: line(creatorName).flatMap(ProcessIdentity.init(text:)),
                       netns: line(netnsName).flatMap { $0.hasPrefix("/") ? $0 : nil },
                       engineLink: line(engineLinkName).flatMap { isInterfaceName($0) ? $0 : nil },
                       vmm: line(vmmName).flatMap(ProcessIdentity.init(text:)),
                       relay: line(relayName).flatMap(ProcessIdentity.init(text:)))
    }

    /// A file's one line: text ending in exactly one newline, with no other newline or NUL.
    static func parseLine(_ text: String) -> String? {
        guard text.hasSuffix("\n") else { return nil }
        let line = String(text.dropLast())
        guard !line.isEmpty, !line.utf8.contains(where: { $0 == 0x0A || $0 == 0 }) else { return nil }
        return line
    }

    /// A Linux interface name: 1 to 15 bytes, no '/', ':' or whitespace, not "." or "..".
    static func isInterfaceName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...15).contains(bytes.count), name != ".", name != ".." else { return false }
        return bytes.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: ":") }
    }

    /// Whether a state directory is what a dead `create` left: no container.json, and its
    /// creator gone (`creatorAlive` false) or never recorded in a directory older than the
    /// grace period (`ageSeconds`).
    public static func isAbandoned(recorded: Bool, creatorAlive: Bool?, ageSeconds: Int) -> Bool {
        guard !recorded else { return false }
        guard let creatorAlive else { return ageSeconds >= unrecordedGrace }
        return !creatorAlive
    }
}
