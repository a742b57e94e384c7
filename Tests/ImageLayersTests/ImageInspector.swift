import ChildProcessSupport
import Foundation

/// Reads an ext4 image back with debugfs/e2fsck, never mounting it.
struct ImageInspector {
    let image: String

    struct Stat {
        var type: String
        var mode: Int
        var uid: Int
        var gid: Int
        var links: Int
        var size: Int
        var mtime: Int
        var raw: String
    }

    private func debugfs(_ request: String) throws -> String {
        let result = try ChildProcess.run("/usr/sbin/debugfs", ["-R", request, image])
        return result.stdout + result.stderr
    }

    /// nil when the path does not exist in the image.
    func stat(_ path: String) throws -> Stat? {
        let text = try debugfs("stat \"\(path)\"")
        if text.contains("File not found") { return nil }
        func field(_ name: String, radix: Int = 10) -> Int {
            guard let range = text.range(of: name) else { return -1 }
            let rest = text[range.upperBound...].drop(while: { $0 == " " })
            let digits = rest.prefix(while: { $0.isHexDigit })
            return Int(digits, radix: radix) ?? -1
        }
        let typeStart = text.range(of: "Type: ")
        let type = typeStart.map { String(text[$0.upperBound...].prefix(while: { $0 != " " })) } ?? "?"
        return Stat(type: type, mode: field("Mode:", radix: 8), uid: field("User:"), gid: field("Group:"),
                    links: field("Links:"), size: field("Size:"), mtime: field("mtime: 0x", radix: 16), raw: text)
    }

    func cat(_ path: String) throws -> String {
        let result = try ChildProcess.run("/usr/sbin/debugfs", ["-R", "cat \"\(path)\"", image])
        return result.stdout
    }

    func xattrs(_ path: String) throws -> String { try debugfs("ea_list \"\(path)\"") }

    func listing(_ path: String) throws -> [String] {
        let result = try ChildProcess.run("/usr/sbin/debugfs", ["-R", "ls -p \"\(path)\"", image])
        // ls -p: /inode/mode/uid/gid/name/size/
        return result.stdout.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "/", omittingEmptySubsequences: false)
            guard fields.count > 5 else { return nil }
            let name = String(fields[5])
            return name == "." || name == ".." ? nil : name
        }.sorted()
    }

    /// e2fsck -fn exit status: 0 means the image is clean.
    func fsck() throws -> ChildProcessResult {
        try ChildProcess.run("/usr/sbin/e2fsck", ["-fn", image])
    }
}
