import AgentProtocol
import CAgent
import Glibc

/// The sandbox's throwaway write layer: the (read-only, shared) image becomes the lower layer of
/// an overlay whose upper layer lives on a tmpfs or on kiln's scratch disk (`kiln.overlay=` on
/// the kernel command line). Many VMs can then share one image; every write dies with the VM.
enum WriteLayer {
    /// Mounts the layer's file system on `base` and, on `base`/root, the overlay of `lower` with
    /// its upper and work directories in `base` (the image needs no directories for them).
    /// Returns the overlay's mount point. Throws the step that failed.
    static func mountOverlay(lower: String, base: String, layer: GuestRoot.WriteLayer) throws(AgentSetupError) -> String {
        switch layer {
        case .tmpfs:
            guard mount("tmpfs", base, "tmpfs", UInt(MS_NOSUID | MS_NODEV), "mode=0755") == 0 else {
                throw .init(step: "mount tmpfs on \(base)", errno: errno)
            }
        case .disk(let device):
            // A fresh mkfs of a sparse file: its inode tables are holes that read as zeros, so
            // the kernel need not write them out (which would make the file dense).
            guard mount(device, base, "ext4", 0, "noinit_itable") == 0 else {
                throw .init(step: "mount \(device) (ext4) on \(base)", errno: errno)
            }
        }
        for dir in ["upper", "work", "root"] {
            guard mkdir("\(base)/\(dir)", 0o755) == 0 || errno == EEXIST else {
                throw .init(step: "mkdir \(base)/\(dir)", errno: errno)
            }
        }
        let options = "lowerdir=\(lower),upperdir=\(base)/upper,workdir=\(base)/work"
        guard mount("overlay", "\(base)/root", "overlay", 0, options) == 0 else {
            throw .init(step: "mount overlay (\(options))", errno: errno)
        }
        return "\(base)/root"
    }

    /// The agent is the image's init (root=): the overlay goes over `/`, on the image's /overlay
    /// directory, and pivot_root makes it the root.
    static func setUpOverRoot(layer: GuestRoot.WriteLayer) throws(AgentSetupError) {
        let root = try mountOverlay(lower: "/", base: "/overlay", layer: layer)
        guard chdir(root) == 0 else { throw .init(step: "chdir \(root)", errno: errno) }
        guard kiln_agent_pivot_to_cwd() == 0 else { throw .init(step: "pivot_root", errno: errno) }
        guard chdir("/") == 0 else { throw .init(step: "chdir /", errno: errno) }
    }
}

struct AgentSetupError: Error, CustomStringConvertible {
    let step: String
    let errno: Int32
    var description: String { "\(step): \(String(cString: strerror(errno)))" }
}
