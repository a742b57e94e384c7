@testable import Devices
import Testing

/// How the async engine's ring is set up on this host.
@Suite struct BlockRingSetupTests {
    /// Linux 5.18+ (every host kiln is tested on) sets the ring up with SUBMIT_ALL, so an entry
    /// the kernel refuses cannot end a submission inside a write chain.
    @Test func theRingKeepsSubmittingPastARefusedEntry() throws {
        let ring = try BlockRing(entries: 8)
        #expect(ring.submitsAll)
    }
}
