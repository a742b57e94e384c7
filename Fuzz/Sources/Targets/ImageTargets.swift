import Images
@_spi(Fuzzing) import ImageLayers
#if canImport(Glibc)
import Glibc
#endif

/// Image references (`kiln run IMAGE`, OCI annotations): whatever parses must print as a
/// canonical name that parses back to the same reference. The image config blob a registry
/// serves is decoded too, with the user lookup it feeds.
let imageReferenceTarget = FuzzTarget(name: "imageref", guestFacing: false, run: { bytes in
    var input = FuzzInput(bytes)
    let mode = input.byte()
    let rest = input.rest()
    if mode < 160 {
        let text = String(decoding: rest, as: UTF8.self)
        guard let reference = try? ImageReference(parsing: text, currentDirectory: "/work") else { return }
        let again = try? ImageReference(parsing: reference.canonicalName, currentDirectory: "/work")
        precondition(again == reference, "\(text) -> \(reference.canonicalName) does not parse back to itself")
        _ = reference.skopeoSource
    } else {
        guard let config = try? ImageConfig.decode(configBlob: rest, reference: "fuzz") else { return }
        _ = config.resolveCommand(entrypointOverride: nil, command: [])
        _ = try? config.parseUser(passwd: "root:x:0:0::/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n",
                                  group: "root:x:0:\nstaff:x:50:u\n")
    }
}, seeds: {
    ["docker.io/library/debian:bookworm", "debian", "localhost:5000/a/b:c@sha256:" + String(repeating: "a", count: 64),
     "oci:/tmp/layout:tag", "oci-archive:../x.tar", "ghcr.io/owner/image@sha256:" + String(repeating: "0", count: 64)]
        .map { [0] + Array($0.utf8) }
        + [[200] + Array(#"{"config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "User": "u:staff", "WorkingDir": "/w"}}"#.utf8)]
})

/// A ustar archive writer for the layer target's structured inputs.
struct TarWriter {
    var bytes: [UInt8] = []

    mutating func entry(name: [UInt8], type: UInt8, mode: UInt32, link: [UInt8] = [], data: [UInt8] = []) {
        var header = [UInt8](repeating: 0, count: 512)
        func field(_ offset: Int, _ length: Int, _ value: [UInt8]) {
            for (index, byte) in value.prefix(length).enumerated() { header[offset + index] = byte }
        }
        func octal(_ offset: Int, _ length: Int, _ value: UInt64) {
            let digits = Array(String(value, radix: 8).utf8)
            field(offset, length - 1, [UInt8](repeating: 0x30, count: max(length - 1 - digits.count, 0)) + digits)
        }
        field(0, 100, name)
        octal(100, 8, UInt64(mode & 0o7777))
        octal(108, 8, 0); octal(116, 8, 0)
        octal(124, 12, UInt64(data.count))
        octal(136, 12, 0)
        header[156] = type
        field(157, 100, link)
        field(257, 8, Array("ustar\u{0}00".utf8))
        field(148, 8, [UInt8](repeating: 0x20, count: 8))
        let sum = header.reduce(0) { $0 + UInt64($1) }
        octal(148, 7, sum)
        bytes += header + data
        bytes += repeatElement(0, count: (512 - data.count % 512) % 512)
    }

    mutating func finish() -> [UInt8] { bytes + [UInt8](repeating: 0, count: 1024) }
}

private let layerDirectory: String = {
    let path = fuzzScratch + "/layers"
    mkdir(fuzzScratch, 0o700)
    mkdir(path, 0o700)
    return path
}()

/// Names from a small alphabet with the pieces that matter: "..", absolute paths, whiteouts,
/// opaque markers, deep and long paths.
private func entryName(_ input: inout FuzzInput) -> [UInt8] {
    let parts: [[UInt8]] = ["a", "b", "dir", "..", ".", "/", ".wh.a", ".wh..wh..opq", ".wh.dir", "etc", "passwd",
                            "x/", "//", "dir/a", "c\u{1}", String(repeating: "n", count: 99)].map { Array($0.utf8) }
    var name: [UInt8] = []
    for _ in 0..<(1 + input.byte() % 4) {
        if !name.isEmpty && input.bool() { name.append(0x2F) }
        name += input.byte() < 240 ? parts[input.below(parts.count)] : input.bytes(upTo: 16)
    }
    return name
}

/// The layer applier: one or two hostile layer archives flattened into an ext4 image. Most
/// inputs describe tar entries (names, types, modes, link targets, data) so every archive
/// reaches the flattener; the others are raw archive bytes for libarchive's readers.
/// Every input is read and flattened (`RootfsBuilder.plan`: where hostile entries are refused
/// or resolved inside the image); one in `fullBuildShare`, picked by the first byte, goes on
/// to the whole build (mke2fs, a process, then libext2fs writing the image), which costs about
/// 40 times as much.
let layerTarget = FuzzTarget(name: "layer", guestFacing: false, run: { bytes in
    var input = FuzzInput(bytes)
    let mode = input.byte()
    let layerCount = 1 + Int(mode % 2)
    let fullBuild = Int(mode >> 1) % layerFullBuildShare == 0
    var layers: [ImageLayers.LayerBlob] = []
    for index in 0..<layerCount {
        let archive: [UInt8]
        if input.byte() < 232 {
            var tar = TarWriter()
            for _ in 0..<(input.byte() % 12) {
                let type = layerEntryTypes[input.below(layerEntryTypes.count)]
                let mode = input.byte() < 200 ? 0o755 : input.integer(UInt32.self)
                tar.entry(name: entryName(&input), type: type, mode: mode,
                          link: type == 0x31 || type == 0x32 ? entryName(&input) : [],
                          data: type == 0x30 || type == 0x78 || type == 0x4C ? input.bytes(upTo: 600) : [])
            }
            archive = tar.finish()
        } else {
            archive = input.bytes(upTo: 8192)
        }
        let path = "\(layerDirectory)/layer\(index)"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        _ = archive.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        layers.append(ImageLayers.LayerBlob(path: path, mediaType: "application/vnd.oci.image.layer.v1.tar",
                                digest: "sha256:" + String(repeating: "0", count: 64)))
    }
    do throws(RootfsBuildError) {
        let plan = try RootfsBuilder.plan(layers: layers)
        guard fullBuild else { return }
        let output = layerDirectory + "/rootfs.ext4"
        unlink(output)
        try RootfsBuilder.build(layers: layers, output: output)
        var status = stat()
        precondition(stat(output, &status) == 0 && Int64(status.st_size) <= plan.kibibytes * 2048,
                     "the image is missing or larger than twice its plan (\(plan.kibibytes) KiB)")
    } catch {
        if verboseFuzzing { printError("layer: \(error)\n") }
    }
}, seeds: {
    // Entries: (type index, name part indices, link part indices, data).
    func entry(_ type: Int, _ name: [Int], link: [Int] = [], data: [UInt8] = []) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.append(le: UInt16(type))
        bytes.append(0)  // mode 0755
        for path in [name] + (link.isEmpty ? [] : [link]) {
            bytes.append(UInt8(path.count - 1))
            for (position, part) in path.enumerated() {
                if position > 0 { bytes.append(1) }  // a slash between parts
                bytes.append(0)
                bytes.append(le: UInt16(part))
            }
        }
        if layerEntryTypes[type] == 0x30 {
            bytes.append(le: UInt16(data.count))
            bytes += data
        }
        return bytes
    }
    // Parts: 0 a, 1 b, 2 dir, 6 .wh.a, 7 .wh..wh..opq, 9 etc, 10 passwd.
    let lower = entry(2, [2]) + entry(0, [2, 0], data: Array("lower\n".utf8)) + entry(0, [9]) + entry(2, [9])
        + entry(0, [9, 10], data: Array("root:x:0:0::/root:/bin/sh\n".utf8)) + entry(1, [1], link: [9, 10])
        + entry(3, [2, 1], link: [9, 10])
    let upper = entry(0, [2, 6]) + entry(0, [2, 7]) + entry(6, [0])
    // First byte: bit 0 picks two layers, the next bits a full build (0) or a plan only.
    return [[1, 0, 7] + lower + [0, 3] + upper, [0, 0, 4] + lower, [3, 0, 7] + lower + [0, 3] + upper]
})

/// One input in this many (by its first byte) builds the ext4 image; the rest stop after the plan.
private let layerFullBuildShare = 16

/// ustar type flags: file, symlink, directory, hard link, character and block device, FIFO,
/// GNU long name, pax header, pax global header, and a NUL (old-style file).
private let layerEntryTypes: [UInt8] = Array("0251346".utf8) + [0x4C, 0x78, 0x67, 0]
