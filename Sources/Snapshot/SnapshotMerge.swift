/// Applies a Diff snapshot to the memory file of the snapshot it was taken on top of: the
/// diff's pages are copied onto the base memory file, and the diff's state is written as a
/// Full snapshot that loads with that file. A chain Full, Diff 1, Diff 2 merges in order.
public enum SnapshotMerge {
    /// `baseMemoryPath` is changed in place; `outputStatePath` gets the merged state (it may be
    /// `diffStatePath` itself). Everything is checked before the base is touched.
    public static func merge(diffStatePath: String, diffMemoryPath: String, baseMemoryPath: String,
                             outputStatePath: String) throws(SnapshotError) {
        var snapshot = try StateFile.read(path: diffStatePath)
        guard snapshot.memoryKind == .diff, let dirty = snapshot.dirtyPages else {
            throw .malformed("\(diffStatePath) is a Full snapshot: there is nothing to merge")
        }
        try MemoryFile.merge(diffPath: diffMemoryPath, ontoBasePath: baseMemoryPath, layout: snapshot.memory, dirty: dirty)
        snapshot.memoryKind = .full
        snapshot.dirtyPages = nil
        try StateFile.write(snapshot, toPath: outputStatePath)
    }
}
