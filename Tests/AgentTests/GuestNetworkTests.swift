import AgentProtocol
import Testing

/// `kiln run --net`: the link addresses kiln derives from the TAP index, the `kiln.net=` word it
/// puts on the guest's command line, and kiln-agent's parser of that word (no VM, no TAP).
@Suite struct GuestNetworkTests {
    func address(_ text: String) -> IPv4Address? { IPv4Address(Substring(text)) }

    @Test func linkAddressesFollowTheIndex() throws {
        let cases: [(Int, String, String)] = [
            (0, "172.31.0.1", "172.31.0.2"), (1, "172.31.0.5", "172.31.0.6"),
            (63, "172.31.0.253", "172.31.0.254"), (64, "172.31.1.1", "172.31.1.2"),
            (16383, "172.31.255.253", "172.31.255.254"),
        ]
        for (index, host, guest) in cases {
            #expect(GuestLink.hostAddress(index: index)?.description == host)
            let network = try #require(GuestLink.guestNetwork(index: index))
            #expect(network.description == "\(guest)/30,\(host)")
            #expect(network.netmask.description == "255.255.255.252")
            #expect(network.commandLineWord == "kiln.net=\(guest)/30,\(host)")
        }
        #expect(GuestLink.count == 16384)
        #expect(GuestLink.hostAddress(index: -1) == nil)
        #expect(GuestLink.hostAddress(index: 16384) == nil)
        #expect(GuestLink.guestNetwork(index: 16384) == nil)
    }

    @Test func parsesWhatKilnWrites() throws {
        for index in [0, 1, 500, 16383] {
            let network = try #require(GuestLink.guestNetwork(index: index))
            #expect(try GuestNetwork.parse(Substring(network.description)) == network)
            let cmdline = "console=ttyS0 quiet root=/dev/vda ro \(network.commandLineWord) kiln.overlay=tmpfs\n"
            #expect(try GuestNetwork.fromCommandLine(cmdline)?.get() == network)
        }
        let wide = try GuestNetwork.parse("10.0.0.2/8,10.255.0.1")
        #expect(wide.netmask.description == "255.0.0.0")
        #expect(wide.gateway == address("10.255.0.1"))
    }

    @Test func noWordMeansNoNetwork() {
        #expect(GuestNetwork.fromCommandLine("console=ttyS0 quiet kiln.overlay=tmpfs") == nil)
        #expect(GuestNetwork.fromCommandLine("") == nil)
        #expect(GuestNetwork.fromCommandLine("xkiln.net=172.31.0.2/30,172.31.0.1") == nil)
    }

    @Test func theLastWordCounts() throws {
        let cmdline = "kiln.net=bogus kiln.net=172.31.0.6/30,172.31.0.5"
        #expect(try GuestNetwork.fromCommandLine(cmdline)?.get().address == address("172.31.0.6"))
    }

    @Test func malformedValuesAreRefusedWithAReason() {
        let cases: [(String, GuestNetworkError)] = [
            ("", .malformed("")),
            ("172.31.0.2/30", .malformed("172.31.0.2/30")),
            ("172.31.0.2,172.31.0.1", .malformed("172.31.0.2,172.31.0.1")),
            ("172.31.0.2/30,172.31.0.1,x", .malformed("172.31.0.2/30,172.31.0.1,x")),
            ("172.31.0.2/30/1,172.31.0.1", .malformed("172.31.0.2/30/1,172.31.0.1")),
            ("172.31.0.256/30,172.31.0.1", .badAddress("172.31.0.256")),
            ("172.31.0/30,172.31.0.1", .badAddress("172.31.0")),
            ("172.31.0.2/30,172.31..1", .badAddress("172.31..1")),
            ("172.31.0.+2/30,172.31.0.1", .badAddress("172.31.0.+2")),
            ("172.31.0.0002/30,172.31.0.1", .badAddress("172.31.0.0002")),
            (" 172.31.0.2/30,172.31.0.1", .badAddress(" 172.31.0.2")),
            ("172.31.0.2/31,172.31.0.3", .badPrefix("31")),
            ("172.31.0.2/0,172.31.0.1", .badPrefix("0")),
            ("172.31.0.2/,172.31.0.1", .badPrefix("")),
            ("172.31.0.2/-3,172.31.0.1", .badPrefix("-3")),
            ("172.31.0.2/300,172.31.0.1", .badPrefix("300")),
            ("172.31.0.2/30,172.31.0.2", .gatewayIsAddress),
            ("172.31.0.2/30,172.31.0.5", .gatewayOffLink),
            ("172.31.0.3/30,172.31.0.1", .notAHostAddress(IPv4Address(172, 31, 0, 3))),
            ("172.31.0.2/30,172.31.0.0", .notAHostAddress(IPv4Address(172, 31, 0, 0))),
        ]
        for (value, expected) in cases {
            #expect(throws: expected, "\(value)") { try GuestNetwork.parse(Substring(value)) }
            // On a command line (the agent's input) a space would end the word first.
            if !value.contains(" ") {
                #expect(GuestNetwork.fromCommandLine("quiet kiln.net=\(value) ro") == .failure(expected), "\(value)")
            }
        }
    }
}
