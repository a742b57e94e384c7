import Glibc

/// The private directory of one `kiln run`: the VMM's vsock socket, console and log.
/// Named /tmp/kiln-run.<pid>.<random> so a later run can remove what a killed run left behind.
struct RunDirectory {
    static let parent = "/tmp"
    static let prefix = "kiln-run."

    let path: String

    static func create() -> RunDirectory {
        var template = Array("\(parent)/\(prefix)\(getpid()).XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            fail("cannot create a run directory in \(parent): \(String(cString: strerror(errno)))")
        }
        return RunDirectory(path: String(cString: made))
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Removes the directory and the files in it (it has no subdirectories).
    func remove() { Self.removeFlat(path) }

    /// Removes `path` and the files in it (run and sandbox directories have no subdirectories).
    static func removeFlat(_ path: String) {
        if let dir = opendir(path) {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if name != "." && name != ".." { unlink("\(path)/\(name)") }
            }
            closedir(dir)
        }
        rmdir(path)
    }
}
