/// One layer blob of an image, in application order.
public struct LayerBlob: Sendable { public let path: String; public let mediaType: String; public let digest: String }
/// Builds the ext4 root filesystem at `output` (a path that does not exist yet) from the layers.
public typealias RootfsConverter = @Sendable (_ layers: [LayerBlob], _ output: String) throws -> Void
/// The same, telling how far it is in lines for a terminal (`ImageStore.pull`'s `progress`).
public typealias ProgressingRootfsConverter = @Sendable (_ layers: [LayerBlob], _ output: String,
                                                         _ progress: (String) -> Void) throws -> Void

extension LayerBlob {
    public init(path: String, mediaType: MediaType, digest: Digest) {
        self.init(path: path, mediaType: mediaType.rawValue, digest: digest.description)
    }
}
