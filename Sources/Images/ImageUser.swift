/// The uid and gid a command runs as, from an image's `User` (or `--user`): `uid`, `uid:gid`,
/// `name`, `name:group`, resolved as runc does against the image's /etc/passwd and /etc/group.
public struct ImageUser: Equatable, Sendable {
    public let uid: UInt32
    public let gid: UInt32

    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }

    /// An empty spec is root. A numeric uid not in passwd runs with gid 0 (runc's default); a
    /// name must be in passwd, a group name in group. `passwd`/`group` are the files' texts
    /// (nil when the image has none).
    public static func parse(_ spec: String, passwd: String?, group: String?) throws(ImageError) -> ImageUser {
        func bad(_ problem: String) -> ImageError { .badUser(spec: spec, problem: problem) }
        if spec.isEmpty { return ImageUser(uid: 0, gid: 0) }
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let userPart = parts[0]
        guard !userPart.isEmpty else { throw bad("no user before the colon") }
        let users = PasswdEntry.parse(passwd ?? "")
        var uid: UInt32
        var gid: UInt32 = 0
        if let number = try numericID(userPart, bad) {
            uid = number
            if let entry = users.first(where: { $0.id == number }) { gid = entry.gid }
        } else {
            guard let entry = users.first(where: { $0.name == userPart }) else {
                throw bad("no user \(quoted(userPart)) in the image's /etc/passwd")
            }
            uid = entry.id
            gid = entry.gid
        }
        if parts.count == 2 {
            let groupPart = parts[1]
            guard !groupPart.isEmpty else { throw bad("no group after the colon") }
            if let number = try numericID(groupPart, bad) {
                gid = number
            } else {
                guard let entry = PasswdEntry.parseGroups(group ?? "").first(where: { $0.name == groupPart }) else {
                    throw bad("no group \(quoted(groupPart)) in the image's /etc/group")
                }
                gid = entry.id
            }
        }
        return ImageUser(uid: uid, gid: gid)
    }

    /// A number in runc's range (0...2^31-1), nil for a name; digits out of range are an error.
    private static func numericID(_ text: String, _ bad: (String) -> ImageError) throws(ImageError) -> UInt32? {
        guard text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        guard let value = UInt32(text), value <= UInt32(Int32.max) else { throw bad("\(text) is out of range (0 to 2147483647)") }
        return value
    }
}

/// One line of /etc/passwd (`name:x:uid:gid:...`) or /etc/group (`name:x:gid:...`); malformed
/// lines are skipped, as libc does.
struct PasswdEntry {
    let name: String
    let id: UInt32
    let gid: UInt32

    static func parse(_ text: String) -> [PasswdEntry] {
        entries(text) { fields in
            guard fields.count >= 4, let uid = UInt32(fields[2]), let gid = UInt32(fields[3]) else { return nil }
            return PasswdEntry(name: fields[0], id: uid, gid: gid)
        }
    }

    static func parseGroups(_ text: String) -> [PasswdEntry] {
        entries(text) { fields in
            guard fields.count >= 3, let gid = UInt32(fields[2]) else { return nil }
            return PasswdEntry(name: fields[0], id: gid, gid: gid)
        }
    }

    private static func entries(_ text: String, _ make: ([String]) -> PasswdEntry?) -> [PasswdEntry] {
        text.split(whereSeparator: \.isNewline).compactMap { line in
            guard !line.hasPrefix("#"), !line.isEmpty else { return nil }
            return make(line.split(separator: ":", omittingEmptySubsequences: false).map(String.init))
        }
    }
}
