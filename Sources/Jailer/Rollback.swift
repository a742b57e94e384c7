import CJailer
#if canImport(Glibc)
import Glibc
#endif

/// What a failed jailer run must undo, recorded as each step builds something. Every entry
/// holds directory descriptors opened on the host side, so the undo still works after
/// pivot_root has hidden the host's paths: a failure never leaves a half-built jail or cgroup.
public final class Rollback {
    enum Action {
        /// Remove `name` (a directory tree we created) inside the directory `parent`.
        case removeTree(parent: Int32, name: String)
        /// Remove the empty directory `name` inside `parent` (shared parents: only if empty).
        case removeDirectory(parent: Int32, name: String)
        /// Move this process back out of a cgroup by writing to its parent's cgroup.procs.
        case leaveCgroup(parentProcs: Int32)
        /// Turn a cgroup v2 controller off again in a subtree_control we turned it on in.
        case disableController(subtreeControl: Int32, controller: String)
    }

    private(set) var actions: [Action] = []
    private(set) var descriptors: [Int32] = []

    public init() {}

    /// Descriptors the rollback keeps open (close-on-exec); closing inherited descriptors spares them.
    public var ownDescriptors: [Int32] { descriptors }

    func record(_ action: Action) { actions.append(action) }

    /// Opens `path` (O_PATH directory, or `flags`) close-on-exec and keeps it for the undo.
    func keep(_ path: String, flags: Int32 = JAILER_O_PATH | O_DIRECTORY, step: String) throws(JailerError) -> Int32 {
        let fd = try check(step, "open \(path)") { open(path, flags | O_CLOEXEC) }
        descriptors.append(fd)
        return fd
    }

    /// Moves this process out of every cgroup it joined (used by the parent of a new PID namespace).
    public func leaveCgroups() {
        for case .leaveCgroup(let procs) in actions { writeAll(procs, "0") }
    }

    /// Undoes everything, newest first. Best effort: a cleanup failure must not hide the error.
    public func undo() {
        for action in actions.reversed() {
            switch action {
            case .removeTree(let parent, let name): removeTree(parent, name)
            case .removeDirectory(let parent, let name): _ = unlinkat(parent, name, AT_REMOVEDIR)
            case .leaveCgroup(let procs): writeAll(procs, "0")
            case .disableController(let fd, let controller): writeAll(fd, "-\(controller)")
            }
        }
        actions.removeAll()
    }

    /// Removes `name` inside `parent` recursively without following symlinks.
    func removeTree(_ parent: Int32, _ name: String) {
        let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd >= 0, let dir = fdopendir(fd) {
            var children: [(String, Bool)] = []
            while let entry = readdir(dir) {
                let child = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if child == "." || child == ".." { continue }
                children.append((child, entry.pointee.d_type == UInt8(DT_DIR)))
            }
            for (child, isDirectory) in children {
                if isDirectory { removeTree(fd, child) } else { _ = unlinkat(fd, child, 0) }
            }
            closedir(dir)
        } else if fd >= 0 {
            close(fd)
        }
        _ = unlinkat(parent, name, AT_REMOVEDIR)
    }
}

/// Writes `text` to `fd` at offset 0 (cgroup files take one write per value).
@discardableResult
func writeAll(_ fd: Int32, _ text: String) -> Bool {
    var text = text
    return text.withUTF8 { pwrite(fd, $0.baseAddress, $0.count, 0) == $0.count }
}
