import ImageLayers
import Testing

/// OCI whiteouts: `.wh.NAME` and `.wh..wh..opq` hide lower layers only and never appear.
@Suite struct WhiteoutTests {
    @Test(arguments: Runner.allCases)
    func whiteoutsAndOpaqueDirectories(runner: Runner) throws {
        let work = try Workspace()
        let lower = try work.layer([
            .file("etc/keep", "k"), .file("etc/gone", "g"), .file("etc/sub/deep", "d"),
            .file("opaque/old", "o"), .file("opaque/dir/old", "o"), .file("dir/gone/inner", "i"),
            .file("hard/original", "shared"), .hardlink("hard/alias", to: "hard/original"),
        ], compression: "none")
        let upper = try work.layer([
            .file("etc/.wh.gone"), .file("etc/sub/.wh.deep"), .file("dir/.wh.gone"),
            .dir("opaque/"), .file("opaque/.wh..wh..opq"), .file("opaque/new", "n"), .file("opaque/dir/new", "n"),
            .file("hard/.wh.original"),
            // Same layer: a whiteout only hides lower layers, never what this layer adds.
            .file("same/file", "s"), .file("same/.wh.file"),
            .file("fresh/.wh.nothing"),
        ], compression: "zstd")
        let image = try work.build([lower, upper], as: runner).get()
        let inspect = ImageInspector(image: image)

        #expect(try inspect.listing("/etc") == ["keep", "sub"])
        #expect(try inspect.listing("/etc/sub") == [])
        #expect(try inspect.listing("/dir") == [])
        #expect(try inspect.listing("/opaque") == ["dir", "new"])
        #expect(try inspect.listing("/opaque/dir") == ["new"])
        #expect(try inspect.listing("/hard") == ["alias"])
        #expect(try inspect.cat("/hard/alias") == "shared")
        #expect(try inspect.stat("/hard/alias")?.links == 1)
        #expect(try inspect.listing("/same") == ["file"])
        #expect(try inspect.listing("/fresh") == [])
        #expect(try inspect.fsck().status == 0)
    }

    @Test func laterLayersReplaceAndReadd() throws {
        let work = try Workspace()
        let one = try work.layer([.file("a/file", "1"), .dir("b/"), .file("b/x", "x")])
        let two = try work.layer([.file("a/.wh.file"), .file("b", "now a file")])
        let three = try work.layer([.file("a/file", "3", uid: 7)])
        let image = try work.build([one, two, three], as: .root).get()
        let inspect = ImageInspector(image: image)
        #expect(try inspect.cat("/a/file") == "3")
        #expect(try inspect.stat("/a/file")?.uid == 7)
        #expect(try inspect.stat("/b")?.type == "regular")
        #expect(try inspect.fsck().status == 0)
    }
}
