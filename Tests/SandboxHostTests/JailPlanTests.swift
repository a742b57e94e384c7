@testable import SandboxHost
import Testing

/// A jail around a VMM that serves shared directories over virtio-fs gives the file servers
/// room for their full tables (one descriptor per inode and handle), within the hard limit.
@Suite struct JailPlanTests {
    let plan = JailPlan(jailer: "/usr/bin/kiln-jailer", execFile: "/usr/bin/kiln", id: "t1", uid: 65534, gid: 65534, base: "/run/x")

    @Test func noSharesKeepTheJailersDefault() {
        let argv = plan.argv(copyIn: [], kilnArguments: ["boot"])
        #expect(!argv.contains("--resource-limit"))
        #expect(JailPlan.openFileLimit(sharedDirectories: 0, hardLimit: 1 << 20) == nil)
    }

    @Test func sharesRaiseTheOpenFileLimit() {
        #expect(JailPlan.openFileLimit(sharedDirectories: 1, hardLimit: 1 << 20) == 256 + 16384 + 1024)
        #expect(JailPlan.openFileLimit(sharedDirectories: 2, hardLimit: 1 << 20) == 256 + 2 * (16384 + 1024))
        let argv = plan.argv(copyIn: [], bindInDirectories: ["/srv/rootfs"], kilnArguments: ["boot"])
        let index = try? #require(argv.firstIndex(of: "--resource-limit"))
        if let index {
            #expect(argv[index + 1].hasPrefix("no-file="))
            #expect(index < argv.firstIndex(of: "--")!)
        }
    }

    /// The jailer keeps CAP_DAC_READ_SEARCH (for the file servers' thread) only when there are
    /// shares: a VMM without them keeps no capability at all.
    @Test func onlySharesKeepDacReadSearch() {
        let withShares = plan.argv(copyIn: [], bindInDirectories: ["/srv/rootfs"], kilnArguments: ["boot"])
        let flag = withShares.firstIndex(of: "--keep-dac-read-search")
        #expect(flag != nil && flag! < withShares.firstIndex(of: "--")!)
        #expect(!plan.argv(copyIn: [], kilnArguments: ["boot"]).contains("--keep-dac-read-search"))
    }

    @Test func theHardLimitCaps() {
        #expect(JailPlan.openFileLimit(sharedDirectories: 1, hardLimit: 8192) == 8192)
        #expect(JailPlan.openFileLimit(sharedDirectories: 1, hardLimit: 2048) == nil)
        #expect(JailPlan.openFileLimit(sharedDirectories: 1, hardLimit: 1024) == nil)
    }
}
