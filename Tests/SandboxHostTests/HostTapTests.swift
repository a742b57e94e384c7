import AgentProtocol
import SandboxHost
import Testing

/// `kiln run --net`'s host side without a TAP: the names kiln makes and reads back from a
/// record, and the privilege check before anything starts.
@Suite struct HostTapTests {
    @Test func tapNamesMatchTheirIndex() throws {
        #expect(HostTap(index: 0)?.name == "kilntap0")
        let tap = try #require(HostTap(index: 70))
        #expect(tap.name == "kilntap70")
        #expect(tap.hostAddress.description == "172.31.1.25")
        #expect(tap.guestNetwork.address.description == "172.31.1.26")
        #expect(HostTap(index: 16384) == nil)
        #expect(HostTap(name: "kilntap0") == HostTap(index: 0))
        #expect(HostTap(name: "kilntap16383") == HostTap(index: 16383))
        // Only names kiln makes: a record naming anything else deletes nothing.
        for bad in ["kilntap", "kilntap01", "kilntap16384", "kilntap-1", "kilntap1x", "eth0", "kilntap 1", "xkilntap1"] {
            #expect(HostTap(name: bad) == nil, "\(bad)")
        }
    }

    @Test func needsNetAdminInTheEffectiveSet() {
        let root = "Name:\tkiln\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n"
        #expect(HostTap.privilegeProblem(procStatus: root) == nil)
        #expect(HostTap.privilegeProblem(procStatus: "CapEff:\t0000000000001000\n") == nil)
        let message = "--net needs root (CAP_NET_ADMIN) to create a TAP device"
        #expect(HostTap.privilegeProblem(procStatus: "CapEff:\t0000000000000000\n") == message)
        #expect(HostTap.privilegeProblem(procStatus: "CapEff:\t000001ffffffefff\n") == message)
        #expect(HostTap.privilegeProblem(procStatus: "Name:\tkiln\n") == message)
        #expect(HostTap.privilegeProblem(procStatus: "CapEff:\tzz\n") == message)
        #expect(HostTap.privilegeProblem(procStatus: nil) == message)
    }
}
