import AgentProtocol
import Testing

/// What the agent reads from `kiln.root=` and `kiln.overlay=`.
@Suite struct GuestRootTests {
    @Test func readsTheWords() {
        #expect(GuestRoot.fromCommandLine("quiet kiln.root=/dev/vda kiln.overlay=disk:/dev/vdb")
                == GuestRoot(imageDevice: "/dev/vda", writeLayer: .disk(device: "/dev/vdb")))
        #expect(GuestRoot.fromCommandLine("root=/dev/vda ro kiln.overlay=tmpfs")
                == GuestRoot(imageDevice: nil, writeLayer: .tmpfs))
        #expect(GuestRoot.fromCommandLine("console=ttyS0") == GuestRoot(imageDevice: nil, writeLayer: nil))
        // The last word counts, as for the kernel's own.
        #expect(GuestRoot.fromCommandLine("kiln.overlay=tmpfs kiln.overlay=disk:/dev/vdc").writeLayer == .disk(device: "/dev/vdc"))
    }

    @Test func ignoresWhatIsNotADevice() {
        for bad in ["kiln.root=vda", "kiln.root=/dev/", "kiln.root=/dev/../etc/x", "kiln.root="] {
            #expect(GuestRoot.fromCommandLine(bad).imageDevice == nil, "\(bad)")
        }
        for bad in ["kiln.overlay=disk:", "kiln.overlay=disk:vdb", "kiln.overlay=ramfs", "kiln.overlay=disk:/dev/.."] {
            #expect(GuestRoot.fromCommandLine(bad).writeLayer == nil, "\(bad)")
        }
    }

    @Test func readsAShareImage() {
        #expect(GuestRoot.fromCommandLine("kiln.root=virtiofs:kiln-root kiln.overlay=tmpfs")
                == GuestRoot(image: .share(tag: "kiln-root"), writeLayer: .tmpfs))
        #expect(GuestRoot(image: .share(tag: "kiln-root"), writeLayer: .tmpfs).imageDevice == nil)
        // A tag the device could not hold, or one that would split the word, is no image.
        for bad in ["kiln.root=virtiofs:", "kiln.root=virtiofs:a:b", "kiln.root=virtiofs:" + String(repeating: "t", count: 37),
                    "kiln.root=virtiofs:../x"] {
            #expect(GuestRoot.fromCommandLine(bad).image == nil, "\(bad)")
        }
    }

    @Test func wordsRoundTrip() {
        for root in [GuestRoot(imageDevice: "/dev/vda", writeLayer: .tmpfs),
                     GuestRoot(imageDevice: "/dev/vda", writeLayer: .disk(device: "/dev/vdb")),
                     GuestRoot(imageDevice: nil, writeLayer: .tmpfs),
                     GuestRoot(image: .share(tag: "kiln-root"), writeLayer: .tmpfs)] {
            #expect(GuestRoot.fromCommandLine(root.commandLineWords.joined(separator: " ")) == root)
        }
        #expect(GuestRoot(imageDevice: "/dev/vda", writeLayer: .tmpfs).commandLineWords == ["kiln.root=/dev/vda", "kiln.overlay=tmpfs"])
    }
}
