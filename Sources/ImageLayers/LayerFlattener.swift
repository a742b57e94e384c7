/// First pass: applies every layer's headers, in order, to an in-memory tree, so the image only
/// ever receives the final state (nothing is deleted from it) and whiteouts never reach it.
///
/// Containment rules for hostile archives, decided here once for the whole builder:
/// - a leading `/` is dropped: every path names a place in the image, never on the host;
/// - `..` in an entry path or hard link target is refused: no tool we know of writes it;
/// - symlinks met on the way to a parent directory are resolved inside this tree (as containerd
///   does with its root-relative path resolution), `..` and absolute targets clamped at the image
///   root, with a hop budget; the host's file system is never consulted, so nothing can escape;
/// - a hard link must name an existing non-directory of the image;
/// - device nodes and FIFOs are created in the image only (the host sees none): they are the
///   guest's business, as in any container image.
struct LayerFlattener {
    static let whiteoutPrefix: [UInt8] = Array(".wh.".utf8)
    static let opaqueMarker: [UInt8] = Array(".wh..wh..opq".utf8)
    static let metadataPrefix: [UInt8] = Array(".wh..wh.".utf8)
    static let maximumSymlinkHops = 40
    static let maximumNameLength = 255
    static let maximumSymlinkLength = 4095
    /// Far beyond any real image, and low enough that releasing the tree (recursive in Swift)
    /// and every later walk stay shallow: entries could otherwise nest without bound.
    static let maximumDepth = 1024

    let root = TreeNode.implicitDirectory(origin: "/")
    private var layerName = ""
    private var layerIndex = 0

    mutating func begin(layer index: Int, name: String) {
        layerIndex = index
        layerName = name
    }

    private func refuse(_ entry: ArchiveEntry, _ reason: String) -> RootfsBuildError {
        .refusedEntry(layer: layerName, entry: entry.displayPath, reason: reason)
    }

    /// Splits a tar path into names: drops a leading `/`, `.` and empty components; refuses `..`.
    private func components(_ path: [UInt8], of entry: ArchiveEntry) throws(RootfsBuildError) -> [[UInt8]] {
        var names: [[UInt8]] = []
        for part in path.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            if part.elementsEqual([UInt8(ascii: ".")]) { continue }
            if part.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) { throw refuse(entry, "path contains '..'") }
            guard part.count <= Self.maximumNameLength else { throw refuse(entry, "a name is longer than 255 bytes") }
            names.append(Array(part))
        }
        return names
    }

    /// The directory that `names` leads to, following the image's own symlinks and creating
    /// missing directories (as tar does for implicit parents). Every directory passed through is
    /// marked as present in this layer, so an opaque marker later in the layer keeps it.
    private func directory(at names: ArraySlice<[UInt8]>, for entry: ArchiveEntry,
                           create: Bool) throws(RootfsBuildError) -> TreeNode? {
        var stack = [root]
        var pending = Array(names.reversed())
        var hops = 0
        while let name = pending.popLast() {
            if name.isEmpty || name == [UInt8(ascii: ".")] { continue }
            if name == [UInt8(ascii: "."), UInt8(ascii: ".")] {
                if stack.count > 1 { stack.removeLast() }
                continue
            }
            guard let current = stack.last else { return nil }
            guard stack.count < Self.maximumDepth else { throw refuse(entry, "nested deeper than \(Self.maximumDepth) directories") }
            guard let child = current.children[name] else {
                guard create else { return nil }
                let made = TreeNode.implicitDirectory(origin: "layer \(layerName): \(entry.displayPath)")
                current.children[name] = (made, layerIndex)
                stack.append(made)
                continue
            }
            switch child.node.kind {
            case .directory:
                if create { current.children[name] = (child.node, layerIndex) }
                stack.append(child.node)
            case let .symlink(target):
                hops += 1
                guard hops <= Self.maximumSymlinkHops else { throw refuse(entry, "too many levels of symlinks") }
                if target.first == UInt8(ascii: "/") { stack = [root] }
                let parts = target.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true)
                pending.append(contentsOf: parts.reversed().map { Array($0) })
            default:
                throw refuse(entry, "'\(String(decoding: name, as: UTF8.self))' on its path is not a directory")
            }
        }
        return stack.last
    }

    mutating func apply(_ entry: ArchiveEntry) throws(RootfsBuildError) {
        let names = try components(entry.path, of: entry)
        guard let name = names.last else {
            // The image root itself ("./"): only its metadata can change.
            guard case .directory = entry.kind, entry.hardlink == nil else {
                throw refuse(entry, "the image root can only be a directory")
            }
            try updateMetadata(root, from: entry)
            return
        }
        guard let parent = try directory(at: names.dropLast(), for: entry, create: true) else {
            throw refuse(entry, "parent directory cannot be resolved")
        }
        if name.starts(with: Self.whiteoutPrefix) {
            try applyWhiteout(name, in: parent, entry: entry)
            return
        }
        let existing = parent.children[name]?.node
        if let link = entry.hardlink {
            let target = try hardlinkTarget(link, entry: entry)
            parent.children[name] = (target, layerIndex)
            return
        }
        if case .directory = entry.kind, let existing, existing.isDirectory {
            // A directory over a directory merges: only the metadata changes.
            try updateMetadata(existing, from: entry)
            parent.children[name] = (existing, layerIndex)
            return
        }
        let node = TreeNode(kind: .directory, permissions: 0, uid: 0, gid: 0, mtime: 0, mtimeNanoseconds: 0,
                            xattrs: [], origin: "layer \(layerName): \(entry.displayPath)")
        node.kind = try kind(of: entry)
        try updateMetadata(node, from: entry)
        // Linux symlinks are always 0777 (extraction cannot set anything else); tar headers vary.
        if case .symlink = node.kind { node.permissions = 0o777 }
        parent.children[name] = (node, layerIndex)
    }

    private func kind(of entry: ArchiveEntry) throws(RootfsBuildError) -> TreeNode.Kind {
        switch entry.kind {
        case .directory: return .directory
        case .regular:
            guard entry.size >= 0 else { throw refuse(entry, "negative size") }
            return .regular(DataSource(layer: layerIndex, ordinal: entry.ordinal), size: entry.size)
        case .symlink:
            guard let target = entry.symlinkTarget, !target.isEmpty else { throw refuse(entry, "symlink without a target") }
            guard target.count <= Self.maximumSymlinkLength else { throw refuse(entry, "symlink target longer than 4095 bytes") }
            return .symlink(target: target)
        case .characterDevice, .blockDevice:
            // The kernel's dev_t holds a 12-bit major and a 20-bit minor.
            guard entry.deviceMajor < 1 << 12, entry.deviceMinor < 1 << 20 else {
                throw refuse(entry, "device number \(entry.deviceMajor):\(entry.deviceMinor) out of range")
            }
            let major = UInt32(entry.deviceMajor), minor = UInt32(entry.deviceMinor)
            if case .characterDevice = entry.kind { return .characterDevice(major: major, minor: minor) }
            return .blockDevice(major: major, minor: minor)
        case .fifo: return .fifo
        case .socket: throw refuse(entry, "sockets cannot be stored in a layer")
        case let .unknown(type): throw refuse(entry, "unknown file type 0o\(String(type, radix: 8))")
        }
    }

    private func updateMetadata(_ node: TreeNode, from entry: ArchiveEntry) throws(RootfsBuildError) {
        guard let uid = UInt32(exactly: entry.uid), let gid = UInt32(exactly: entry.gid) else {
            throw refuse(entry, "uid \(entry.uid) or gid \(entry.gid) out of range")
        }
        for xattr in entry.xattrs {
            guard !xattr.name.isEmpty, xattr.name.count <= 255, xattr.value.count <= 3 * 1024 else {
                throw refuse(entry, "xattr name or value too long for ext4")
            }
        }
        node.permissions = entry.permissions & 0o7777
        node.uid = uid
        node.gid = gid
        node.mtime = entry.mtime
        node.mtimeNanoseconds = UInt32(exactly: entry.mtimeNanoseconds).map { $0 < 1_000_000_000 ? $0 : 0 } ?? 0
        node.xattrs = entry.xattrs
    }

    private func hardlinkTarget(_ link: [UInt8], entry: ArchiveEntry) throws(RootfsBuildError) -> TreeNode {
        let names = try components(link, of: entry)
        guard let name = names.last,
              let parent = try directory(at: names.dropLast(), for: entry, create: false),
              let target = parent.children[name]?.node else {
            throw refuse(entry, "hard link target '\(String(decoding: link, as: UTF8.self))' is not in the image")
        }
        guard !target.isDirectory else { throw refuse(entry, "hard link to a directory") }
        return target
    }

    private func applyWhiteout(_ name: [UInt8], in parent: TreeNode, entry: ArchiveEntry) throws(RootfsBuildError) {
        if name == Self.opaqueMarker {
            hideLowerLayers(in: parent)
            return
        }
        // Other `.wh..wh.` names are aufs bookkeeping (hard link directories): not content.
        if name.starts(with: Self.metadataPrefix) { return }
        let hidden = Array(name.dropFirst(Self.whiteoutPrefix.count))
        guard !hidden.isEmpty, hidden != [UInt8(ascii: ".")], hidden != [UInt8(ascii: "."), UInt8(ascii: ".")] else {
            throw refuse(entry, "whiteout of an invalid name")
        }
        // A whiteout hides lower layers only; a name this layer put there stays.
        if let child = parent.children[hidden], child.layer < layerIndex {
            parent.children[hidden] = nil
        }
    }

    /// An opaque directory shows nothing from lower layers, at any depth: names this layer put in
    /// it stay, and directories this layer passed through keep only this layer's names.
    private func hideLowerLayers(in directory: TreeNode) {
        var work = [directory]
        while let current = work.popLast() {
            for (name, child) in current.children {
                if child.layer < layerIndex {
                    current.children[name] = nil
                } else if child.node.isDirectory {
                    work.append(child.node)
                }
            }
        }
    }
}
