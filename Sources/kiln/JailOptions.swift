import ArgumentParser
import SandboxHost

/// As root, `kiln run` and `kiln create` start their VMM through kiln-jailer when it is next to
/// kiln (JailPlan); these flags opt out or pick the jail's user.
struct JailOptions: ParsableArguments {
    @Flag(help: "As root, start the VMM directly instead of through kiln-jailer.")
    var noJail = false

    @Option(help: ArgumentHelp("User the jailed VMM runs as.", valueName: "uid"))
    var jailUid: UInt32 = RunDefaults.jailUid

    @Option(help: ArgumentHelp("Group the jailed VMM runs as (default: the uid's number).", valueName: "gid"))
    var jailGid: UInt32?

    /// The jail of the VMM whose run (or sandbox) directory is `directory`, built under it;
    /// when there can be none, the directory is removed before the error is thrown.
    func plan(id: String, in directory: RunDirectory) throws(SandboxHostError) -> JailPlan? {
        do {
            return try JailPlan.make(id: id, base: directory.file("jail"), uid: jailUid, gid: jailGid ?? jailUid,
                                     enabled: !noJail)
        } catch {
            try? directory.remove()
            throw error
        }
    }
}
