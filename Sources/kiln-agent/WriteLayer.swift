import CAgent
import Glibc

/// The sandbox's throwaway write layer: with `kiln.overlay=tmpfs` on the kernel command line the
/// (read-only, shared) root file system becomes the lower layer of an overlay whose upper layer
/// lives on a tmpfs, and the agent pivots into it. Many VMs can then share one image; every
/// write dies with the VM.
enum WriteLayer {
    /// Where the tmpfs goes: a directory that must exist in the image (the root is read-only).
    static let base = "/overlay"

    static func requested(cmdline: String?) -> Bool {
        guard let cmdline else { return false }
        return cmdline.split(whereSeparator: { $0 == " " || $0 == "\n" }).contains("kiln.overlay=tmpfs")
    }

    /// Mounts the overlay and makes it the root. Throws the step that failed; the caller carries
    /// on without a write layer (the read-only root still runs commands).
    static func setUp() throws(AgentSetupError) {
        guard mount("tmpfs", base, "tmpfs", UInt(MS_NOSUID | MS_NODEV), "mode=0755") == 0 else {
            throw .init(step: "mount tmpfs on \(base)", errno: errno)
        }
        for dir in ["upper", "work", "root"] {
            guard mkdir("\(base)/\(dir)", 0o755) == 0 else { throw .init(step: "mkdir \(base)/\(dir)", errno: errno) }
        }
        let options = "lowerdir=/,upperdir=\(base)/upper,workdir=\(base)/work"
        guard mount("overlay", "\(base)/root", "overlay", 0, options) == 0 else {
            throw .init(step: "mount overlay (\(options))", errno: errno)
        }
        guard chdir("\(base)/root") == 0 else { throw .init(step: "chdir \(base)/root", errno: errno) }
        guard kiln_agent_pivot_to_cwd() == 0 else { throw .init(step: "pivot_root", errno: errno) }
        guard chdir("/") == 0 else { throw .init(step: "chdir /", errno: errno) }
    }
}

struct AgentSetupError: Error, CustomStringConvertible {
    let step: String
    let errno: Int32
    var description: String { "\(step): \(String(cString: strerror(errno)))" }
}
