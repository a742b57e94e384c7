import Images
import Sandbox

/// How an image's config shapes the job, as Docker does: Env under --env, WorkingDir unless
/// --workdir, User (a name resolved in the image's /etc/passwd and /etc/group) unless --user,
/// Entrypoint + Cmd or Entrypoint + the command given (--entrypoint replaces Entrypoint).
public enum ImageJob {
    public static func apply(_ image: StoredImage, entrypoint: String?, to options: JobOptions) throws(SandboxImageError) -> SandboxJob {
        let config = image.config
        guard let argv = config.resolveCommand(entrypointOverride: entrypoint.map { [$0] }, command: options.command) else {
            throw .noCommand(image: image.names.first ?? image.id)
        }
        var merged = options
        merged.command = argv
        // The image's Env comes first, so --env (applied by job()) wins.
        merged.env = config.env + options.env
        if merged.workdir == nil, let dir = config.workingDir, !dir.isEmpty { merged.workdir = dir }
        let userSpec = options.user ?? config.user ?? ""
        merged.user = nil
        var job: SandboxJob
        do { job = try merged.job() } catch { throw .job(error) }
        if !userSpec.isEmpty {
            let user = try resolveUser(userSpec, image: image)
            job.request.uid = user.uid
            job.request.gid = user.gid
        }
        return job
    }

    /// `uid[:gid]` or names: the image's /etc/passwd and /etc/group are read only when a name
    /// needs them (the copies saved at conversion, else debugfs).
    public static func resolveUser(_ spec: String, image: StoredImage) throws(SandboxImageError) -> ImageUser {
        let numeric = spec.split(separator: ":", omittingEmptySubsequences: false).allSatisfy { UInt32($0) != nil }
        var passwd: String?, group: String?
        if !numeric {
            do {
                passwd = try ImageAccountFiles.text(of: "/etc/passwd", rootfs: image.rootfsPath)
                group = try ImageAccountFiles.text(of: "/etc/group", rootfs: image.rootfsPath)
            } catch {
                throw .accountFile(spec: spec, error)
            }
        }
        do { return try ImageUser.parse(spec, passwd: passwd, group: group) } catch { throw .user(spec: spec, error) }
    }
}
