import AgentProtocol
import Glibc

/// `kiln run -v HOST:GUEST`: the host directory HOST, served read-only by a virtio-fs device
/// of the VMM, mounted by the agent at GUEST. The tag is kiln's own (`kiln-share<N>`), so
/// user input never reaches the device's config space or the command line's tag field.
public struct HostShare: Equatable, Sendable {
    public let hostPath: String
    public let guestPath: String
    public let tag: String

    public init(hostPath: String, guestPath: String, tag: String) {
        self.hostPath = hostPath
        self.guestPath = guestPath
        self.tag = tag
    }

    /// Parses and checks `HOST:GUEST` (split at the last ':': a host path may hold colons, a
    /// guest path may not): HOST must be an existing directory, GUEST an
    /// absolute path without `.`/`..` components. `index` numbers the tag.
    public static func parse(_ text: String, index: Int) throws(HostShareError) -> HostShare {
        guard let colon = text.lastIndex(of: ":") else { throw .malformed(text, "expected HOST:GUEST") }
        let host = String(text[..<colon]), guest = String(text[text.index(after: colon)...])
        guard !host.isEmpty else { throw .malformed(text, "no host directory before ':'") }
        if let problem = GuestMount.pathProblem(guest) { throw .malformed(text, "the guest path \(problem)") }
        var info = stat()
        guard stat(host, &info) == 0 else { throw .malformed(text, "\(host): \(String(cString: strerror(errno)))") }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw .malformed(text, "\(host) is not a directory") }
        return HostShare(hostPath: host, guestPath: guest, tag: "kiln-share\(index)")
    }

    /// What the agent reads from the command line.
    public var guestMount: GuestMount { GuestMount(tag: tag, path: guestPath) }

    /// Two shares on one guest path: the second would hide the first.
    public static func checkDistinct(_ shares: [HostShare]) throws(HostShareError) {
        var seen = Set<String>()
        for share in shares where !seen.insert(share.guestPath).inserted {
            throw .malformed("\(share.hostPath):\(share.guestPath)", "\(share.guestPath) is shared twice")
        }
    }
}

/// A `-v` argument kiln cannot use; one line naming it.
public enum HostShareError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(String, String)

    public var description: String {
        switch self {
        case let .malformed(text, reason): "-v \(text): \(reason)"
        }
    }
}
