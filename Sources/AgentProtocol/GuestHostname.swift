/// The guest's host name on the kernel command line: `kiln.hostname=NAME`, which the agent sets
/// with sethostname(2) at boot (else "kiln"). Shared by both ends so kiln writes only names the
/// agent takes and the command line cannot be split or quoted by one.
public enum GuestHostname {
    public static let commandLineKey = "kiln.hostname="
    /// Linux's HOST_NAME_MAX.
    public static let maxBytes = 64

    /// What keeps `name` off the command line: empty, longer than 64 bytes, or a byte that is a
    /// space, a control character, a quote or not ASCII. Nil when it is fine.
    public static func problem(_ name: String) -> String? {
        guard !name.isEmpty else { return "empty" }
        guard name.utf8.count <= maxBytes else { return "longer than \(maxBytes) bytes" }
        guard name.utf8.allSatisfy({ (0x21...0x7E).contains($0) && $0 != UInt8(ascii: "\"") }) else {
            return "only printable ASCII without spaces or quotes can reach the guest"
        }
        return nil
    }

    /// The command-line word for `name`, nil when `problem(name)` is not nil.
    public static func commandLineWord(_ name: String) -> String? {
        problem(name) == nil ? commandLineKey + name : nil
    }
}
