import ChildProcessSupport
import Foundation
import Images
import Testing

/// The image commands as a user types them: the real `kiln` binary (real conversion) on a store
/// of the test's own, an `oci:` layout the test writes.
@Suite struct ImageCommandsTests {
    let scratch = TestDirectory()
    var store: String { scratch.path + "/store" }

    func kiln(_ arguments: [String]) throws -> ChildProcessResult {
        try KilnBinary.run(arguments, environment: ["KILN_IMAGE_STORE": store], timeout: 60)
    }

    /// `kiln images`' rows as cells: columns are padded with two spaces or more, and a cell
    /// ("5.2 MB", "3 seconds ago") holds single spaces only.
    func table() throws -> [[String]] {
        let result = try kiln(["images"])
        #expect(result.status == 0, "\(result)")
        return result.stdout.split(separator: "\n").map { line in
            line.split(separator: "  ", omittingEmptySubsequences: true).map { $0.trimmingCharacters(in: .whitespaces) }
        }
    }

    @Test func pullImagesTagRmiPrune() throws {
        let layout = scratch.path + "/layout"
        let digests = try TestLayout(path: layout, layerFiles: [["a": "1"], ["b": "2"]]).write()
        let reference = "oci:\(layout):v1"

        let pulled = try kiln(["pull", reference])
        #expect(pulled.status == 0, "\(pulled)")
        #expect(pulled.stdout == digests.config + "\n")

        var rows = try table()
        #expect(rows.first == ["NAME", "TAG", "DIGEST", "ID", "SIZE", "AGE"])
        #expect(rows.count == 2, "\(rows)")
        let rootfsSize = try #require(try FileManager.default.attributesOfItem(
            atPath: "\(store)/images/\(digests.config)/rootfs.ext4")[.size] as? Int)
        let row = try #require(rows.last)
        #expect(Array(row.prefix(4)) == ["oci:" + layout, "v1", "sha256:" + digests.manifest.prefix(12), String(digests.config.prefix(12))],
                "\(row)")
        #expect(row.count == 6 && row[4] == Self.humanSize(rootfsSize), "\(row) for \(rootfsSize) bytes")
        #expect(row.count == 6 && (row[5] == "0 seconds ago" || row[5] == "1 seconds ago" || row[5] == "2 seconds ago"), "\(row)")

        let full = try kiln(["images", "--no-trunc"])
        #expect(full.stdout.contains("sha256:\(digests.manifest)  \(digests.config)"), "\(full.stdout)")

        let tagged = try kiln(["image", "tag", reference, "kiln.local/test:second"])
        #expect(tagged.status == 0 && tagged.stdout == digests.config + "\n", "\(tagged)")
        rows = try table()
        #expect(rows.dropFirst().map { Array($0.prefix(3)) }
                == [["kiln.local/test", "second", "sha256:" + digests.manifest.prefix(12)],
                    ["oci:" + layout, "v1", "sha256:" + digests.manifest.prefix(12)]], "\(rows)")

        // The first name goes; the image stays for its other name.
        let untagged = try kiln(["rmi", "kiln.local/test:second"])
        #expect(untagged.status == 0 && untagged.stdout == "removed name kiln.local/test:second\n", "\(untagged)")
        #expect(try table().count == 2)
        #expect(FileManager.default.fileExists(atPath: "\(store)/images/\(digests.config)/rootfs.ext4"))

        // The last name takes the image and its blobs with it.
        let removed = try kiln(["rmi", reference])
        #expect(removed.status == 0, "\(removed)")
        let lines = removed.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "removed name \(reference)")
        #expect(lines.contains("removed image \(digests.config)"), "\(lines)")
        for blob in [digests.manifest, digests.config] + digests.layers {
            #expect(lines.contains("removed blob sha256:\(blob)"), "\(blob) not in \(lines)")
        }
        #expect(try table() == [["NAME", "TAG", "DIGEST", "ID", "SIZE", "AGE"]])

        // What a killed pull left in tmp/: prune removes it and says so; a second prune has nothing to do.
        try FileManager.default.createDirectory(atPath: store + "/tmp/pull-planted/blobs", withIntermediateDirectories: true)
        let pruned = try kiln(["image", "prune"])
        #expect(pruned.status == 0 && pruned.stdout == "removed temporary pull-planted\n", "\(pruned)")
        let left = StoreContents(store)
        #expect(left.images.isEmpty && left.refs.isEmpty && left.tmp.isEmpty && left.blobs.isEmpty, "\(left)")
        let again = try kiln(["image", "prune"])
        #expect(again.status == 0 && again.stdout.isEmpty, "\(again)")

        // A name the store does not have: one line, exit 125.
        for arguments in [["rmi", reference], ["image", "tag", reference, "kiln.local/x:1"]] {
            let missing = try kiln(arguments)
            #expect(missing.status == 125 && missing.stdout.isEmpty, "\(arguments): \(missing)")
            #expect(missing.stderr.split(separator: "\n").count == 1 && missing.stderr.contains(reference), "\(missing.stderr)")
        }
    }

    /// kiln's units, computed independently: powers of 1000, one decimal.
    static func humanSize(_ bytes: Int) -> String {
        if bytes < 1000 { return "\(bytes) B" }
        for (index, unit) in ["kB", "MB", "GB"].enumerated() {
            let scaled = Double(bytes) / pow(1000, Double(index + 1))
            if scaled < 1000 || unit == "GB" { return "\((scaled * 10).rounded() / 10) \(unit)" }
        }
        return ""
    }
}
