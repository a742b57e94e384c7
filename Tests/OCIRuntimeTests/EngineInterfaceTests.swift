import AgentProtocol
@testable import OCIRuntime
import Testing

/// Finding the engine's interface (CNI's veth) in `ip -j` output, which is read as untrusted.
@Suite struct EngineInterfaceTests {
    static func document(_ text: String) throws -> JSONDocument { try JSONDocument.parse(Array(text.utf8)) }

    // What `ip -j addr show` printed in a namespace CNI's bridge plugin had set up (trimmed).
    static let addresses = #"""
    [{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP"],"mtu":65536,"link_type":"loopback","address":"00:00:00:00:00:00",
      "addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host"}]},
     {"ifindex":2,"link_index":7,"ifname":"eth0","flags":["BROADCAST","UP"],"mtu":1450,"link_type":"ether",
      "address":"4A:9C:0b:11:22:33","link_netnsid":0,
      "addr_info":[{"family":"inet6","local":"fe80::1","prefixlen":64},{"family":"inet","local":"10.88.0.7","prefixlen":16,"scope":"global"}]}]
    """#
    static let route = #"[{"dst":"default","gateway":"10.88.0.1","dev":"eth0","flags":[]}]"#

    @Test func theDefaultRoutesInterfaceIsTakenOver() throws {
        let found = try #require(EngineInterface.find(addresses: Self.document(Self.addresses), defaultRoutes: Self.document(Self.route)))
        #expect(found.name == "eth0" && found.mac == "4a:9c:0b:11:22:33" && found.mtu == 1450)
        #expect(found.network.description == "10.88.0.7/16,10.88.0.1")
    }

    @Test func noDefaultRouteIsNoInterface() throws {
        // podman --network none: loopback only, no route.
        #expect(EngineInterface.find(addresses: try Self.document(Self.addresses), defaultRoutes: try Self.document("[]")) == nil)
    }

    @Test(arguments: [
        // The gateway off the interface's subnet, a kiln TAP, a name with a space, a multicast MAC,
        // a MAC that is not six bytes, a route to an interface that is not listed.
        (#"[{"dst":"default","gateway":"192.168.1.1","dev":"eth0"}]"#, addresses),
        (#"[{"dst":"default","gateway":"10.88.0.1","dev":"kilntap0"}]"#, addresses.replacingEth0(with: "kilntap0")),
        (#"[{"dst":"default","gateway":"10.88.0.1","dev":"eth 0"}]"#, addresses.replacingEth0(with: "eth 0")),
        (route, addresses.replacingMAC(with: "01:00:5e:00:00:01")),
        (route, addresses.replacingMAC(with: "4a:9c:0b:11:22")),
        (route, addresses.replacingMAC(with: "+a:9c:0b:11:22:33")),
        (#"[{"dst":"default","gateway":"10.88.0.1","dev":"eth1"}]"#, addresses),
        (#"{"dst":"default"}"#, addresses),
    ])
    func unusableInterfacesAreNotTakenOver(_ testCase: (String, String)) throws {
        #expect(EngineInterface.find(addresses: try Self.document(testCase.1), defaultRoutes: try Self.document(testCase.0)) == nil)
    }
}

private extension String {
    func replacingEth0(with name: String) -> String { replacing(#""ifname":"eth0""#, with: #""ifname":"\#(name)""#) }
    func replacingMAC(with mac: String) -> String { replacing("4A:9C:0b:11:22:33", with: mac) }
}
