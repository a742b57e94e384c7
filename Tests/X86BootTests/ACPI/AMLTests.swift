import Testing
@testable import X86Boot

/// Expected bytes are hand-encoded from the ACPI 6.5 grammar and match what iasl 20200925
/// emits for the ASL quoted beside each case.
/// "0a05" -> [0x0a, 0x05]: fixtures copied from `xxd` of iasl's output.
func hexBytes(_ hex: String) -> [UInt8] {
    let digits = Array(hex.utf8)
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
}

@Suite struct AMLTests {
    @Test(arguments: [
        (0, [0x00]),                                      // Zero
        (1, [0x01]),                                      // One
        (0x0f, [0x0a, 0x0f]),
        (0xff, [0x0a, 0xff]),
        (0x100, [0x0b, 0x00, 0x01]),
        (0xffff, [0x0b, 0xff, 0xff]),
        (0x10000, [0x0c, 0x00, 0x00, 0x01, 0x00]),
        (0x1234_5678, [0x0c, 0x78, 0x56, 0x34, 0x12]),
        (0x1_0000_0000, [0x0e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00]),
    ] as [(UInt64, [UInt8])])
    func integers(value: UInt64, encoding: [UInt8]) {
        #expect(AML.integer(value) == encoding)
    }

    @Test(arguments: [
        (0, [0x01]), (0x3e, [0x3f]),                     // one byte up to 63 in all
        (0x3f, [0x41, 0x04]),                            // 0x41 = 2 bytes, low nibble 1
        (66, [0x44, 0x04]),                              // Buffer(){64 bytes}: 68 in all
        (0xffd, [0x4f, 0xff]),                           // largest two-byte length
        (5003, [0x8e, 0x38, 0x01]),                      // Buffer(){5000 bytes}: 5006 in all
        (0xf_fffc, [0x8f, 0xff, 0xff]),
        (0xf_fffd, [0xc1, 0x00, 0x00, 0x01]),              // 0x100001 in all
        (0xfff_fffb, [0xcf, 0xff, 0xff, 0xff]),
    ] as [(Int, [UInt8])])
    func packageLengths(content: Int, encoding: [UInt8]) throws {
        #expect(try AML.packageLength(contentLength: content) == encoding)
    }

    @Test func packageLengthBeyondFourBytesIsRejected() {
        #expect(throws: ACPIError.amlTooLong(bytes: 0xfff_fffc)) { try AML.packageLength(contentLength: 0xfff_fffc) }
    }

    @Test(arguments: [
        ("_S5", [0x5f, 0x53, 0x35, 0x5f]),
        ("PVPN", Array("PVPN".utf8)),
        ("\\_SB_", [0x5c] + Array("_SB_".utf8)),
        ("_SB.PV.EFGH", [0x2f, 0x03] + Array("_SB_PV__EFGH".utf8)),   // Name(\_SB.PV.EFGH, 1) at root
        ("_SB.PV", [0x2e] + Array("_SB_PV__".utf8)),
        ("^^A1", [0x5e, 0x5e] + Array("A1__".utf8)),
        ("\\", [0x5c, 0x00]),                             // root, NullName
        ("^", [0x5e, 0x00]),
    ] as [(String, [UInt8])])
    func nameStrings(path: String, encoding: [UInt8]) throws {
        #expect(try AML.nameString(path) == encoding)
    }

    @Test(arguments: ["", "ABCDE", "1ABC", "ab", "A..B", "A.", "_S5-"])
    func invalidNamesAreRejected(path: String) {
        #expect(throws: ACPIError.invalidAMLName(path)) { try AML.nameString(path) }
    }

    @Test func strings() throws {
        #expect(try AML.string("QEMU0001") == [0x0d] + Array("QEMU0001".utf8) + [0x00])
        #expect(try AML.string("") == [0x0d, 0x00])
        #expect(throws: ACPIError.invalidAMLString("a\u{0}b")) { try AML.string("a\u{0}b") }
        #expect(throws: ACPIError.invalidAMLString("é")) { try AML.string("é") }
    }

    @Test func sleepStatePackage() throws {
        // Name (_S5, Package () { 5, 0 })
        let expected: [UInt8] = [0x08, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x05, 0x02, 0x0a, 0x05, 0x00]
        #expect(try AML.name("_S5", AML.package([AML.integer(5), AML.integer(0)])) == expected)
    }

    @Test func integerPackage() throws {
        // Name (INTS, Package () { 0, 1, 0xFF, 0x100, 0xFFFF, 0x10000, 0xFFFFFFFF, 0x100000000 })
        let expected: [UInt8] = [
            0x08, 0x49, 0x4e, 0x54, 0x53, 0x12, 0x1f, 0x08, 0x00, 0x01, 0x0a, 0xff, 0x0b, 0x00, 0x01,
            0x0b, 0xff, 0xff, 0x0c, 0x00, 0x00, 0x01, 0x00, 0x0c, 0xff, 0xff, 0xff, 0xff,
            0x0e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
        ]
        let values: [UInt64] = [0, 1, 0xff, 0x100, 0xffff, 0x10000, 0xffff_ffff, 0x1_0000_0000]
        #expect(try AML.name("INTS", AML.package(values.map(AML.integer))) == expected)
    }

    @Test func packageWithTooManyElementsIsRejected() {
        let elements = [[UInt8]](repeating: [0], count: 256)
        #expect(throws: ACPIError.amlTooManyElements(256)) { try AML.package(elements) }
    }

    @Test func buffers() throws {
        // Name (BUFA, Buffer () { 64 x 0x01 })
        let buffer = try AML.name("BUFA", AML.buffer([UInt8](repeating: 1, count: 64)))
        #expect(Array(buffer.prefix(10)) == [0x08, 0x42, 0x55, 0x46, 0x41, 0x11, 0x44, 0x04, 0x0a, 0x40])
        #expect(buffer.count == 5 + 1 + 2 + 2 + 64)
        // Name (BUFB, Buffer () { 5000 x 0x02 })
        let large = try AML.buffer([UInt8](repeating: 2, count: 5000))
        #expect(Array(large.prefix(7)) == [0x11, 0x8e, 0x38, 0x01, 0x0b, 0x88, 0x13])
    }

    @Test func methods() throws {
        // Method (_STA, 0, NotSerialized) { Return (0x0F) }
        #expect(try AML.method("_STA", [AML.returning(AML.integer(0x0f))])
            == [0x14, 0x09, 0x5f, 0x53, 0x54, 0x41, 0x00, 0xa4, 0x0a, 0x0f])
        // Method (MTH2, 2, Serialized) { Return (0x12345678) }
        #expect(try AML.method("MTH2", arguments: 2, serialized: true, [AML.returning(AML.integer(0x1234_5678))])
            == [0x14, 0x0c, 0x4d, 0x54, 0x48, 0x32, 0x0a, 0xa4, 0x0c, 0x78, 0x56, 0x34, 0x12])
        #expect(throws: ACPIError.invalidAMLName("M")) { try AML.method("M", arguments: 8, []) }
    }

    @Test func ioResourceTemplate() throws {
        // Name (_CRS, ResourceTemplate () { IO (Decode16, 0x0505, 0x0505, 0x01, 0x01) })
        let expected: [UInt8] = [
            0x08, 0x5f, 0x43, 0x52, 0x53, 0x11, 0x0d, 0x0a, 0x0a,
            0x47, 0x01, 0x05, 0x05, 0x05, 0x05, 0x01, 0x01, 0x79, 0x00,
        ]
        let crs = try AML.name("_CRS", AMLResource.template([
            AMLResource.io(minimum: 0x505, maximum: 0x505, alignment: 1, length: 1),
        ]))
        #expect(crs == expected)
    }

    @Test func eisaIDs() throws {
        // Name (_HID, EisaId ("PNP0501")) -> DWordConst 0x0105D041, stored 41 D0 05 01
        #expect(try AML.eisaID("PNP0501") == [0x0c, 0x41, 0xd0, 0x05, 0x01])
        for bad in ["PNP050", "pnp0501", "PNP050G", "PNP0501A", "PNP050a", "P1P0501", "PNP+501"] {
            #expect(throws: ACPIError.invalidEISAID(bad)) { try AML.eisaID(bad) }
        }
    }

    @Test func memoryAndInterruptResources() throws {
        // Memory32Fixed (ReadWrite, 0xD0001000, 0x00001000)
        #expect(AMLResource.memory32Fixed(base: 0xd000_1000, length: 0x1000)
            == hexBytes("86090001001000d000100000"))
        // Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { 4 }
        #expect(AMLResource.interrupt(gsi: 4) == hexBytes("890600030104000000"))
    }

    // The DSDT body, as iasl compiles:
    //     Name (_S5, Package () { 5, 0 })
    //     Scope (\_SB) {
    //         Device (COM1) {
    //             Name (_HID, EisaId ("PNP0501"))
    //             Name (_UID, Zero)
    //             Name (_CRS, ResourceTemplate () {
    //                 IO (Decode16, 0x03F8, 0x03F8, 0x01, 0x08)
    //                 Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { 4 } })
    //         }
    //         Device (PVPN) {
    //             Name (_HID, "QEMU0001")
    //             Name (_STA, 0x0F)
    //             Name (_CRS, ResourceTemplate () { IO (Decode16, 0x0505, 0x0505, 0x01, 0x01) })
    //         }
    //         [Device (VR00) {
    //             Name (_HID, "LNRO0005")
    //             Name (_UID, Zero)
    //             Name (_CRS, ResourceTemplate () {
    //                 Memory32Fixed (ReadWrite, 0xD0001000, 0x00001000)
    //                 Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { 5 } })
    //         }]
    //     }
    static let sleepState = "085f53355f1205020a0500"
    static let serialAndPvPanic = "5b8231434f4d31085f4849440c41d00501085f55494400085f43525311160a134701f803f8030108"
        + "89060003010400000079005b822e5056504e085f4849440d51454d553030303100085f5354410a0f"
        + "085f435253110d0a0a47010505050501017900"
    static let virtio0 = "5b823a56523030085f4849440d4c4e524f3030303500085f55494400085f435253111a0a17"
        + "86090001001000d0001000008906000301050000007900"
    //         Device (VGEN) {
    //             Name (_HID, "VMGENCTR")
    //             Name (_CID, "VM_GEN_COUNTER")
    //             Name (_DDN, "VM_Gen_Counter")
    //             Name (ADDR, Package () { 0x000FF000, Zero })
    //         }
    //         Device (GED0) {
    //             Name (_HID, "ACPI0013")
    //             Name (_UID, Zero)
    //             Name (_CRS, ResourceTemplate () { Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { 16 } })
    //             Method (_EVT, 1, NotSerialized) { Notify (\_SB.VGEN, 0x80) }
    //         }
    // (iasl -f: it refuses "VMGENCTR" as a _HID without hex digits, which Linux's vmgenid
    // driver matches; -oa keeps Notify's absolute path as Kiln writes it.)
    static let vmGenerationAndGED = "5b824d045647454e085f4849440d564d47454e43545200085f4349440d564d5f47454e5f434f554e54455200"
        + "085f44444e0d564d5f47656e5f436f756e7465720008414444521208020c00f00f0000"
        + "5b82430447454430085f4849440d414350493030313300085f55494400085f435253110e0a0b8906000301100000007900"
        + "14135f45565401865c2e5f53425f5647454e0a80"
    static let dsdtBody = hexBytes(sleepState + "104d0f5f53425f" + serialAndPvPanic + vmGenerationAndGED)

    @Test func dsdtBodyMatchesIasl() throws {
        #expect(try DSDT.aml() == Self.dsdtBody)
    }

    @Test func dsdtWithAVirtioDeviceMatchesIasl() throws {
        let device = ACPIVirtioDevice(base: 0xd000_1000, size: 0x1000, gsi: 5)
        #expect(try DSDT.aml(virtioDevices: [device])
            == hexBytes(Self.sleepState + "1049135f53425f" + Self.serialAndPvPanic + Self.vmGenerationAndGED + Self.virtio0))
    }

    @Test func notify() throws {
        // Notify (\_SB.VGEN, 0x80)
        #expect(try AML.notify("\\_SB_.VGEN", 0x80) == hexBytes("865c2e5f53425f5647454e0a80"))
    }

    @Test func virtioDevicesAreNamedInHex() throws {
        // Device (VR1A) { _HID "LNRO0005", _UID 0x1A, Memory32Fixed 0xD001B000/0x200, Interrupt { 0x17 } }
        let device = ACPIVirtioDevice(base: 0xd001_b000, size: 0x200, gsi: 0x17)
        #expect(try DSDT.virtio(device, index: 0x1a) == hexBytes(
            "5b823b56523141085f4849440d4c4e524f3030303500085f5549440a1a085f435253111a0a17"
                + "8609000100b001d0000200008906000301170000007900"))
    }

    @Test func virtioDevicesMustBeBelow4GiBAndAtMost256() {
        let high = ACPIVirtioDevice(base: 0x1_0000_0000, size: 0x1000, gsi: 5)
        #expect(throws: ACPIError.invalidVirtioDevice(index: 0)) { try DSDT.aml(virtioDevices: [high]) }
        let straddling = ACPIVirtioDevice(base: 0xffff_f000, size: 0x2000, gsi: 5)
        #expect(throws: ACPIError.invalidVirtioDevice(index: 0)) { try DSDT.aml(virtioDevices: [straddling]) }
        let many = [ACPIVirtioDevice](repeating: ACPIVirtioDevice(base: 0xd000_1000, size: 0x1000, gsi: 5), count: 257)
        #expect(throws: ACPIError.invalidVirtioDevice(index: 256)) { try DSDT.aml(virtioDevices: many) }
    }
}
