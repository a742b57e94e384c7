import ArgumentParser
import Glibc
import SandboxHost

/// `kiln setup`: installs the guest kernel and the agent initramfs where `kiln run` and
/// `kiln create` find them without flags or environment.
struct Setup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup",
        abstract: "Install the guest kernel and the agent initramfs as kiln's defaults.",
        discussion: """
            Copies them into kiln's data directory ($KILN_DATA_DIR, else /var/lib/kiln as root, \
            else $XDG_DATA_HOME/kiln or ~/.local/share/kiln) as vmlinux and agent-initrd.cpio. \
            `kiln run` and `kiln create` use them when --kernel/$KILN_VMLINUX and \
            --agent-initrd/$KILN_AGENT_INITRD are not given. Kernels/build.sh and \
            Rootfs/build-agent-initrd.sh build them. Without options, prints what is installed.
            """)

    @Option(help: ArgumentHelp("Guest kernel to install (vmlinux or bzImage).", valueName: "path"))
    var kernel: String?

    @Option(help: ArgumentHelp("kiln-agent initramfs to install.", valueName: "path"))
    var agentInitrd: String?

    func run() {
        let assets = GuestAssets.current()
        // Both are checked before either is installed, so a typo installs nothing.
        for (option, path) in [("--kernel", kernel), ("--agent-initrd", agentInitrd)] {
            if let path, access(path, R_OK) != 0 { fail("\(option) \(path): \(String(cString: strerror(errno)))") }
        }
        do {
            if let kernel { print("kernel: \(try assets.install(kernel, as: GuestAssets.kernelName))") }
            if let agentInitrd { print("agent initramfs: \(try assets.install(agentInitrd, as: GuestAssets.agentInitrdName))") }
        } catch { fail(error.description) }
        if kernel == nil && agentInitrd == nil {
            print("data directory: \(assets.directory)")
            print("kernel: \(GuestAssets.readable(assets.kernel) ?? "not installed (kiln setup --kernel PATH)")")
            print("agent initramfs: \(GuestAssets.readable(assets.agentInitrd) ?? "not installed (kiln setup --agent-initrd PATH)")")
        }
    }
}
