import Images
import Sandbox
import SandboxHost

/// Why a sandbox cannot run its image: each prints as one line; the CLI adds "kiln: error: "
/// and exits 125.
public enum SandboxImageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No --image and no root filesystem file, and the store lacks the default image.
    case noDefaultImage(name: String)
    case defaultImage(name: String, ImageError)
    /// `kiln exec` on a sandbox whose image was removed from the store (`kiln rmi`).
    case imageGone(sandbox: String, image: String)
    case sandboxImage(sandbox: String, image: String, ImageError)
    /// `--from DIR`: the snapshot's image was removed, or is no longer where its VM had it.
    case snapshotImageGone(snapshot: String, image: String)
    case snapshotImageMoved(snapshot: String, image: String, now: String, was: String)
    /// The image has neither Entrypoint nor Cmd, and no command was given.
    case noCommand(image: String)
    /// The user's options are wrong whatever the image.
    case job(JobOptionError)
    /// `User`/--user names no account of the image, or its /etc/passwd could not be read.
    case user(spec: String, ImageError)
    case accountFile(spec: String, SandboxHostError)

    public var description: String {
        switch self {
        case .noDefaultImage(let name):
            "no --image or --rootfs, and the image store has no default image \(name): "
                + "build it with Rootfs/build-default-image.sh (Debian with python3), or give --image REF"
        case let .defaultImage(name, error): "default image \(name): \(error)"
        case let .imageGone(sandbox, image): "sandbox \(sandbox) runs image \(image), which is no longer in the image store"
        case let .sandboxImage(sandbox, image, error): "sandbox \(sandbox): image \(image): \(error)"
        case let .snapshotImageGone(snapshot, image): "--from \(snapshot): its image \(image) is no longer in the image store"
        case let .snapshotImageMoved(snapshot, image, now, was): "--from \(snapshot): image \(image) is now at \(now), not \(was)"
        case .noCommand(let image): "image \(image) has no Entrypoint or Cmd: give the command after --"
        case .job(let error): "\(error)"
        case let .user(spec, error): "user \(spec): \(error)"
        case let .accountFile(spec, error): "user \(spec): \(error)"
        }
    }
}
