/// How far a root filesystem build is, for a terminal: the first pass reads (and decompresses)
/// every layer, the second streams the surviving files' data into the image.
public enum RootfsBuildProgress: Sendable, Equatable, CustomStringConvertible {
    /// The first pass is at layer `index` (from 1) of `count`.
    case readingLayer(index: Int, count: Int)
    /// `written` of the `total` bytes of file data are in the image.
    case writingData(written: Int64, total: Int64)

    public var description: String {
        switch self {
        case let .readingLayer(index, count): "Reading layer \(index) of \(count)"
        case let .writingData(written, total): "Writing files: \(Self.megabytes(written)) of \(Self.megabytes(total)) MB"
        }
    }

    private static func megabytes(_ bytes: Int64) -> Int64 { (bytes + 500_000) / 1_000_000 }

    /// Data progress is reported each time another `dataStep` bytes are written, and at the end.
    static let dataStep: Int64 = 64 << 20
}
