import Devices
import Testing
@testable import VMM

@Suite struct NetConfigTests {
    func message(_ interfaces: [NetConfig]) -> String? {
        let config = VMConfig(kernelPath: "/proc/self/exe", networkInterfaces: interfaces)
        do { try config.validate(maxVcpus: 8, hostMemoryMiB: 1024) } catch { return error.description }
        return nil
    }

    @Test func validInterfacesPass() {
        #expect(message([NetConfig(id: "eth0", tapName: "tap0"),
                         NetConfig(id: "eth1", tapName: "tap1", mac: "06:00:ac:10:00:02")]) == nil)
    }

    @Test func badMACsAreNamed() {
        for mac in ["06:00:ac:10:00", "06:00:ac:10:00:02:03", "0g:00:00:00:00:01", "01:00:5e:00:00:01",
                    "00:00:00:00:00:00", "6:00:ac:10:00:02", ""] {
            let text = message([NetConfig(id: "eth0", tapName: "tap0", mac: mac)])
            #expect(text?.contains("invalid MAC address '\(mac)'") == true, "\(mac): \(text ?? "accepted")")
        }
    }

    @Test func badTapNamesAndDuplicatesAreRefused() {
        #expect(message([NetConfig(id: "eth0", tapName: "a/b")])?.contains("invalid TAP interface name 'a/b'") == true)
        #expect(message([NetConfig(id: "eth0", tapName: String(repeating: "t", count: 16))]) != nil)
        #expect(message([NetConfig(id: "eth0", tapName: "tap0"), NetConfig(id: "eth0", tapName: "tap1")])?
            .contains("eth0 is used twice") == true)
        #expect(message([NetConfig(id: "eth0", tapName: "tap0"), NetConfig(id: "eth1", tapName: "tap0")])?
            .contains("TAP tap0 is used by two") == true)
        #expect(message([NetConfig(id: "", tapName: "tap0")])?.contains("ID is empty") == true)
    }

    @Test func derivedMACIsStableUnicastAndLocal() throws {
        let a = try NetConfig(id: "eth0", tapName: "tap0").resolvedMAC()
        #expect(a == (try NetConfig(id: "eth0", tapName: "tap0").resolvedMAC()))
        #expect(a != (try NetConfig(id: "eth0", tapName: "tap1").resolvedMAC()))
        #expect(a.array[0] == 0x06)  // locally administered, unicast
        #expect(try NetConfig(id: "x", tapName: "t", mac: "AA:bb:CC:00:11:22").resolvedMAC().description
                == "aa:bb:cc:00:11:22")
    }

    @Test func tooManyDevicesIsRefused() {
        let interfaces = (0..<11).map { NetConfig(id: "eth\($0)", tapName: "tap\($0)") }
        #expect(message(interfaces)?.contains("too many virtio devices") == true)
    }
}
