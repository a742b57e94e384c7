import AgentProtocol
import ArgumentParser
import Images
import Sandbox
import SandboxImages

/// What runs inside the sandbox: shared by `kiln run` and `kiln agent-exec`.
struct SandboxOptions: ParsableArguments {
    @Option(name: .customLong("env"), help: ArgumentHelp("Environment variable for the command (repeatable).", valueName: "K=V"))
    var env: [String] = []

    @Option(help: ArgumentHelp("Working directory of the command in the guest.", valueName: "dir"))
    var workdir: String?

    @Option(help: ArgumentHelp("Run the command as this guest user: UID or UID:GID (GID defaults to UID). With --image also names from the image's /etc/passwd and /etc/group, and a UID's GID from its /etc/passwd (else 0), as Docker does. Default: the image's User, else root.",
                               valueName: "user[:group]"))
    var user: String?

    @Option(name: .customLong("copy-in"),
            help: ArgumentHelp("Copy a host file into the guest before the command (repeatable).", valueName: "src:dst"))
    var copyIn: [String] = []

    @Option(name: .customLong("copy-out"),
            help: ArgumentHelp("Copy a guest file to the host after the command (repeatable).", valueName: "src:dst"))
    var copyOut: [String] = []

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The command and its arguments, after --.", valueName: "cmd"))
    var command: [String] = []

    var jobOptions: JobOptions {
        JobOptions(env: env, workdir: workdir, user: user, copyIn: copyIn, copyOut: copyOut, command: command)
    }

    /// The job, shaped by `image`'s config when there is one, or a one-line error naming the
    /// problem (exit 125).
    func job(image: StoredImage? = nil, entrypoint: String? = nil) -> SandboxJob {
        do {
            if let image { return try ImageJob.apply(image, entrypoint: entrypoint, to: jobOptions) }
            return try jobOptions.job()
        } catch {
            fail("\(error)")
        }
    }
}
