// rootfs-build-probe OUTPUT MEDIATYPE=PATH... : runs RootfsBuilder.build in this process (tests
// run it under setpriv as an unprivileged user); prints the error's one line and exits 1 on failure.
import ImageLayers
#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments.dropFirst()
guard let output = arguments.first else {
    print("usage: rootfs-build-probe OUTPUT MEDIATYPE=PATH...")
    exit(2)
}
var layers: [LayerBlob] = []
for argument in arguments.dropFirst() {
    guard let separator = argument.firstIndex(of: "=") else {
        print("bad layer argument: \(argument)")
        exit(2)
    }
    let path = String(argument[argument.index(after: separator)...])
    layers.append(LayerBlob(path: path, mediaType: String(argument[..<separator]), digest: "layer\(layers.count)"))
}
do {
    try RootfsBuilder.build(layers: layers, output: output)
} catch {
    print(error.description)
    exit(1)
}
