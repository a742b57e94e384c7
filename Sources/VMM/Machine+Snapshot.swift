/// Snapshots of a running machine (`PUT /snapshot/create`).
extension Machine {
    public func createSnapshot(_ request: SnapshotCreateRequest) throws(VMMError) {
        throw .invalidState("snapshot/create is not available yet in this build")
    }
}
