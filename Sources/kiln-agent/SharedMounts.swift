import AgentProtocol
import CAgent
import Glibc

/// The host directories of `kiln run -v HOST:GUEST`: each `kiln.mount=TAG:PATH` on the
/// command line is the virtio-fs device TAG, mounted read-only at PATH in the final root (after
/// the overlay and the pseudo file systems, so that neither hides it).
enum SharedMounts {
    /// Mounts every share. A share that cannot be mounted powers the guest off: the command
    /// would otherwise run against an empty directory where the user asked for their files,
    /// and `kiln run` shows this console line when the VM ends early.
    static func mountAll(cmdline: String?, log: (String) -> Void) {
        for entry in GuestMount.fromCommandLine(cmdline ?? "") {
            switch entry {
            case .failure(let error):
                log("cannot mount shared directory \(error)")
                _ = kiln_agent_power_off()
            case .success(let share):
                do throws(AgentSetupError) { try mount(share) } catch {
                    log("cannot mount shared directory \(share.tag) on \(share.path): \(error)")
                    _ = kiln_agent_power_off()
                }
            }
        }
    }

    /// The mount point and its parents are made in the write layer (the image stays as it is);
    /// the share is read-only on the host's side anyway, nosuid and nodev on the guest's: its
    /// files are the host user's, not the sandbox's system.
    static func mount(_ share: GuestMount) throws(AgentSetupError) {
        var prefix = ""
        for component in share.path.split(separator: "/") {
            prefix += "/" + component
            guard mkdir(prefix, 0o755) == 0 || errno == EEXIST else { throw .init(step: "mkdir \(prefix)", errno: errno) }
        }
        let flags = UInt(MS_RDONLY | MS_NOSUID | MS_NODEV)
        guard Glibc.mount(share.tag, share.path, "virtiofs", flags, nil) == 0 else {
            throw .init(step: "mount -t virtiofs \(share.tag) \(share.path) -o ro", errno: errno)
        }
    }
}
