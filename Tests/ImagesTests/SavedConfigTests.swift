import Foundation
import Images
import Testing

/// The run fields saved beside a converted image (ImageConfig+Saved): every config comes back
/// exactly, whatever its strings hold, and anything that is not what `savedText` writes is
/// refused (the store then decodes config.json).
@Suite struct SavedConfigTests {
    static let configs: [ImageConfig] = [
        ImageConfig(),
        ImageConfig(env: ["PATH=/usr/bin:/bin", "A=", "B=x=y"], workingDir: "/app", user: "kilnuser:kilngroup",
                    entrypoint: ["/bin/sh", "-c"], cmd: ["echo hi"]),
        ImageConfig(entrypoint: [], cmd: []),
        ImageConfig(env: ["MULTI=line one\nline two", "BACK=C:\\dir\\n", "CRLF=a\r\nb", "EMPTY=", "UNI=é☃\u{0}z"],
                    workingDir: "/w\\n", user: "1000", entrypoint: ["", "\\", "\n", "=", "Cmd"], cmd: ["Entrypoint=x", "\\n\n"]),
        ImageConfig(cmd: ["python3"]),
    ]

    @Test(arguments: configs)
    func roundTrips(config: ImageConfig) {
        #expect(ImageConfig(savedText: config.savedText) == config)
    }

    @Test(arguments: [
        "",
        "kiln-image-config 2\n",
        "kiln-image-config 1",
        "kiln-image-config 1\nEnv=a",
        "kiln-image-config 1\nFoo=bar\n",
        "kiln-image-config 1\nEnv\n",
        "kiln-image-config 1\nWorkingDir=/a\nWorkingDir=/b\n",
        "kiln-image-config 1\nUser=a\nUser=b\n",
        "kiln-image-config 1\nEntrypoint=/bin/sh\n",
        "kiln-image-config 1\nCmd\nCmd\n",
        "kiln-image-config 1\nEnv=a\\tb\n",
        "kiln-image-config 1\nEnv=trailing\\\n",
        "kiln-image-config 1\n\n",
    ])
    func refusesAnythingElse(text: String) {
        #expect(ImageConfig(savedText: text) == nil, "\(text.debugDescription)")
    }

    /// A pulled image has the file and is looked up from it; without it (an image an older kiln
    /// converted) or with one that does not parse, the store decodes config.json.
    @Test func theStoreReadsItAndFallsBackToTheJSON() throws {
        let scratch = TestDirectory()
        let source = scratch.path + "/layout", root = scratch.path + "/store"
        let layout = try TestLayout(path: source, files: ["hello": "hi\n"], env: ["PATH=/bin", "X=a\nb"], cmd: ["/bin/sh", "-c", "true"])
        _ = try layout.write()
        let reference = try ImageReference(parsing: "oci:/test/layout:v1")
        let store = ImageStore(root: root, converter: FakeConverter().converter, fetcher: CopyingFetcher(source: source, sourceTag: "v1"))
        let image = try store.pull(reference)
        let expected = ImageConfig(env: ["PATH=/bin", "X=a\nb"], workingDir: "/", cmd: ["/bin/sh", "-c", "true"])
        #expect(image.config == expected)
        let saved = "\(root)/images/\(image.id)/run-config"
        #expect(FileManager.default.contents(atPath: saved).map { String(decoding: $0, as: UTF8.self) } == expected.savedText)

        // What lookup returns comes from the file: a different (valid) saved config shows.
        let other = ImageConfig(cmd: ["from-the-saved-file"])
        try Data(other.savedText.utf8).write(to: URL(fileURLWithPath: saved))
        #expect(store.lookup(reference)?.config == other)
        // Unparseable, then absent: config.json decides.
        try Data("garbage\n".utf8).write(to: URL(fileURLWithPath: saved))
        #expect(store.lookup(reference)?.config == expected)
        try FileManager.default.removeItem(atPath: saved)
        #expect(store.lookup(reference)?.config == expected)
    }
}
