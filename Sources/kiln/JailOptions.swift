import ArgumentParser
import SandboxHost

/// As root, `kiln run` and `kiln create` start their VMM through kiln-jailer when it is next to
/// kiln (JailPlan); these flags opt out or pick the jail's user.
struct JailOptions: ParsableArguments {
    @Flag(help: "As root, start the VMM directly instead of through kiln-jailer.")
    var noJail = false

    @Option(help: ArgumentHelp("User the jailed VMM runs as.", valueName: "uid"))
    var jailUid: UInt32 = 65534

    @Option(help: ArgumentHelp("Group the jailed VMM runs as (default: the uid's number).", valueName: "gid"))
    var jailGid: UInt32?

    func plan(id: String, base: String) throws(SandboxHostError) -> JailPlan? {
        try JailPlan.make(id: id, base: base, uid: jailUid, gid: jailGid ?? jailUid, enabled: !noJail)
    }
}
