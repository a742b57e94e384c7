@testable import API
import Testing
import VMM

/// `PUT /snapshot/create` and `PUT /snapshot/load`: Firecracker's bodies, when each is valid,
/// and one-line 400s for everything else.
@Suite struct SnapshotAPITests {
    typealias Harness = APIControllerTests.Harness

    private func fault(_ response: APIResponse) -> String { APIController.faultMessage(response) ?? "<none>" }

    private func started() -> Harness {
        let h = Harness()
        h.configure()
        #expect(h.send("PUT", "/actions", #"{"action_type": "InstanceStart"}"#).status == 204)
        return h
    }

    @Test func createNeedsAPausedVM() throws {
        let body = #"{"snapshot_path": "/s/vm.state", "mem_file_path": "/s/vm.mem"}"#
        let fresh = Harness()
        #expect(fault(fresh.send("PUT", "/snapshot/create", body)).contains("InstanceStart first"))
        let h = started()
        #expect(fault(h.send("PUT", "/snapshot/create", body)).contains("paused VM"))
        #expect(h.send("PATCH", "/vm", #"{"state": "Paused"}"#).status == 204)
        #expect(h.send("PUT", "/snapshot/create", body).status == 204)
        #expect(h.vm.snapshots == [SnapshotCreateRequest(snapshotPath: "/s/vm.state", memoryFilePath: "/s/vm.mem", kind: .full)])
        #expect(h.send("PUT", "/snapshot/create", #"{"snapshot_path": "a", "mem_file_path": "b", "snapshot_type": "Diff"}"#).status == 204)
        #expect(h.vm.snapshots.last?.kind == .diff)
        // The VM is still paused and can go on.
        #expect(h.controller.state == "Paused")
        h.vm.snapshotFails = .invalidState("disk full")
        let failed = h.send("PUT", "/snapshot/create", body)
        #expect(failed.status == 400 && fault(failed).contains("disk full"))
    }

    @Test func badCreateBodies() {
        let h = started()
        #expect(h.send("PATCH", "/vm", #"{"state": "Paused"}"#).status == 204)
        for (body, expected) in [
            (#"{"snapshot_path": "/s"}"#, "mem_file_path"),
            (#"{"mem_file_path": "/m"}"#, "snapshot_path"),
            (#"{"snapshot_path": "", "mem_file_path": "/m"}"#, "snapshot_path must be a non-empty path"),
            (#"{"snapshot_path": "/s", "mem_file_path": "/m", "snapshot_type": "Partial"}"#, "snapshot_type 'Partial'"),
            (#"{"snapshot_path": "/s", "mem_file_path": "/m", "version": "1.0"}"#, "unknown field 'version'"),
            (#"{"snapshot_path": "/s", "mem_file_path": "/s"}"#, "same file"),
            (#"{"snapshot_path": 1, "mem_file_path": "/m"}"#, "snapshot_path"),
        ] {
            let response = h.send("PUT", "/snapshot/create", body)
            #expect(response.status == 400 && fault(response).contains(expected), "\(body): \(fault(response))")
            #expect(!fault(response).contains("\n"))
        }
        #expect(h.vm.snapshots.isEmpty)
    }

    final class RestoringHarness {
        var loads: [SnapshotLoadRequest] = []
        let vm = RecordingVM()
        var failure: VMMError?
        lazy var controller = APIController(instanceID: "r", start: { (_: VMConfig) throws(VMMError) -> any RunningVM in
            throw .invalidState("no boots here")
        }, restore: { (request: SnapshotLoadRequest) throws(VMMError) -> any RunningVM in
            if let failure = self.failure { throw failure }
            self.loads.append(request)
            self.vm.isPaused = !request.resume
            return self.vm
        })
        func send(_ method: String, _ path: String, _ body: String = "") -> APIResponse {
            controller.handle(APIRequest(method: method, path: path, body: Array(body.utf8)))
        }
    }

    @Test func loadTakesEitherMemorySpelling() throws {
        let h = RestoringHarness()
        let body = #"{"snapshot_path": "/s", "mem_backend": {"backend_type": "File", "backend_path": "/m"}, "track_dirty_pages": true, "resume_vm": true, "network_overrides": [{"iface_id": "eth0", "host_dev_name": "tap7"}], "vsock_override": {"uds_path": "/v.sock"}}"#
        #expect(h.send("PUT", "/snapshot/load", body).status == 204)
        #expect(h.loads == [SnapshotLoadRequest(snapshotPath: "/s", memoryFilePath: "/m", trackDirtyPages: true, resume: true,
                                                networkOverrides: ["eth0": "tap7"], vsockPathOverride: "/v.sock")])
        #expect(h.controller.state == "Running")
        // A second load (or a boot) on the same kiln is refused.
        #expect(fault(h.send("PUT", "/snapshot/load", body)).contains("already running"))

        let older = RestoringHarness()
        #expect(older.send("PUT", "/snapshot/load", #"{"snapshot_path": "/s", "mem_file_path": "/m", "enable_diff_snapshots": true}"#).status == 204)
        #expect(older.loads.first?.trackDirtyPages == true && older.loads.first?.resume == false)
        #expect(older.controller.state == "Paused")
    }

    @Test func badLoadBodiesCreateNothing() {
        let h = RestoringHarness()
        for (body, expected) in [
            (#"{"snapshot_path": "/s"}"#, "mem_backend"),
            (#"{"snapshot_path": "/s", "mem_file_path": "/m", "mem_backend": {"backend_type": "File", "backend_path": "/m"}}"#, "not both"),
            (#"{"snapshot_path": "/s", "mem_backend": {"backend_type": "Uffd", "backend_path": "/u.sock"}}"#, "Uffd is not supported"),
            (#"{"snapshot_path": "/s", "mem_backend": {"backend_type": "Disk", "backend_path": "/m"}}"#, "backend_type 'Disk'"),
            (#"{"snapshot_path": "/s", "mem_backend": {"backend_type": "File"}}"#, "backend_path"),
            (#"{"snapshot_path": "/s", "mem_file_path": "/m", "track_dirty_pages": true, "enable_diff_snapshots": false}"#, "disagree"),
            (#"{"snapshot_path": "/s", "mem_file_path": "/m", "network_overrides": [{"iface_id": "a", "host_dev_name": "tap0"}, {"iface_id": "a", "host_dev_name": "tap1"}]}"#, "twice"),
            (#"{"snapshot_path": "/s", "mem_file_path": "/m", "network_overrides": [{"iface_id": "a", "host_dev_name": "a/b"}]}"#, "host_dev_name"),
            (#"{"snapshot_path": "/s", "mem_file_path": "/m", "network_overrides": [{"iface_id": "a b", "host_dev_name": "tap0"}]}"#, "iface_id"),
            (#"{"snapshot_path": "/s", "mem_file_path": "/m", "huge_pages": "2M"}"#, "huge_pages '2M'"),
            (#"{"snapshot_path": "/s", "mem_file_path": "/m", "resume": true}"#, "unknown field 'resume'"),
            (#"{"snapshot_path": "/s", "mem_file_path": "/m", "vsock_override": {"uds_path": ""}}"#, "uds_path"),
        ] {
            let response = h.send("PUT", "/snapshot/load", body)
            #expect(response.status == 400 && fault(response).contains(expected), "\(body): \(fault(response))")
        }
        #expect(h.loads.isEmpty && h.controller.vm == nil)
        h.failure = .invalidState("snapshot file: CRC mismatch")
        let failed = h.send("PUT", "/snapshot/load", #"{"snapshot_path": "/s", "mem_file_path": "/m"}"#)
        #expect(failed.status == 400 && fault(failed).contains("CRC mismatch"))
        #expect(h.controller.vm == nil && h.controller.state == "Not started")
    }

    @Test func loadAfterConfigurationIsRefused() {
        let h = RestoringHarness()
        #expect(h.send("PUT", "/boot-source", #"{"kernel_image_path": "Package.swift"}"#).status == 204)
        #expect(fault(h.send("PUT", "/snapshot/load", #"{"snapshot_path": "/s", "mem_file_path": "/m"}"#)).contains("before the VM is configured"))
        let plain = Harness()
        #expect(fault(plain.send("PUT", "/snapshot/load", #"{"snapshot_path": "/s", "mem_file_path": "/m"}"#)).contains("not available"))
    }

    /// Every property of Firecracker's SnapshotCreateParams and SnapshotLoadParams (and the
    /// MemoryBackend, NetworkOverride and VsockOverride inside), as its API description
    /// (firecracker.yaml, v1.13) lists them: each one given a valid value is accepted (or, for
    /// values kiln does not support, refused naming the field and value), and given a value of
    /// the wrong type is refused naming the field.
    static let createFields: [(field: String, valid: String, wrongType: String)] = [
        ("mem_file_path", #""/m""#, "1"), ("snapshot_path", #""/s""#, "true"), ("snapshot_type", #""Diff""#, "[]"),
    ]
    static let loadFields: [(field: String, valid: String, wrongType: String)] = [
        ("enable_diff_snapshots", "true", #""yes""#), ("track_dirty_pages", "true", "1"),
        ("mem_backend", #"{"backend_type": "File", "backend_path": "/m2"}"#, #""File""#),
        ("resume_vm", "false", #""no""#),
        ("network_overrides", #"[{"iface_id": "eth0", "host_dev_name": "tap9"}]"#, #"{"iface_id": "eth0"}"#),
        ("vsock_override", #"{"uds_path": "/v.sock"}"#, #""/v.sock""#),
        ("clock_realtime", "true", "0"), ("huge_pages", #""None""#, "2"),
    ]

    @Test func everyDocumentedCreateFieldIsAcceptedOrRefusedByName() {
        for (field, valid, wrongType) in Self.createFields {
            var members = ["snapshot_path": #""/s""#, "mem_file_path": #""/m""#]
            members[field] = valid
            let h = started()
            #expect(h.send("PATCH", "/vm", #"{"state": "Paused"}"#).status == 204)
            let body = "{" + members.map { "\"\($0)\": \($1)" }.joined(separator: ", ") + "}"
            #expect(h.send("PUT", "/snapshot/create", body).status == 204, "\(body)")
            members[field] = wrongType
            let bad = "{" + members.map { "\"\($0)\": \($1)" }.joined(separator: ", ") + "}"
            let response = h.send("PUT", "/snapshot/create", bad)
            #expect(response.status == 400 && fault(response).contains(field), "\(bad): \(fault(response))")
        }
    }

    @Test func everyDocumentedLoadFieldIsAcceptedOrRefusedByName() {
        for (field, valid, wrongType) in Self.loadFields {
            // mem_backend replaces mem_file_path (exactly one of the two).
            var members = ["snapshot_path": #""/s""#]
            if field != "mem_backend" { members["mem_file_path"] = #""/m""# }
            members[field] = valid
            let h = RestoringHarness()
            let body = "{" + members.map { "\"\($0)\": \($1)" }.joined(separator: ", ") + "}"
            #expect(h.send("PUT", "/snapshot/load", body).status == 204, "\(body): \(fault(h.send("PUT", "/snapshot/load", body)))")
            members[field] = wrongType
            let bad = "{" + members.map { "\"\($0)\": \($1)" }.joined(separator: ", ") + "}"
            let refused = RestoringHarness()
            let response = refused.send("PUT", "/snapshot/load", bad)
            #expect(response.status == 400 && fault(response).contains(field), "\(bad): \(fault(response))")
            #expect(refused.loads.isEmpty)
        }
        // The values kiln does not support are refused by name and value.
        for (body, expected) in [
            (#"{"snapshot_path": "/s", "mem_file_path": "/m", "huge_pages": "Transparent"}"#, "huge_pages 'Transparent'"),
            (#"{"snapshot_path": "/s", "mem_backend": {"backend_type": "Uffd", "backend_path": "/u"}}"#, "backend_type Uffd"),
        ] {
            let h = RestoringHarness()
            let response = h.send("PUT", "/snapshot/load", body)
            #expect(response.status == 400 && fault(response).contains(expected), "\(body): \(fault(response))")
        }
        // Nested fields: each missing or mistyped one is named.
        for (body, expected) in [
            (#"{"snapshot_path": "/s", "mem_backend": {"backend_path": "/m"}}"#, "backend_type"),
            (#"{"snapshot_path": "/s", "mem_backend": {"backend_type": "File", "backend_path": 3}}"#, "backend_path"),
            (#"{"snapshot_path": "/s", "mem_file_path": "/m", "network_overrides": [{"host_dev_name": "tap0"}]}"#, "iface_id"),
            (#"{"snapshot_path": "/s", "mem_file_path": "/m", "network_overrides": [{"iface_id": "eth0"}]}"#, "host_dev_name"),
            (#"{"snapshot_path": "/s", "mem_file_path": "/m", "vsock_override": {"uds_path": 5}}"#, "uds_path"),
        ] {
            let h = RestoringHarness()
            let response = h.send("PUT", "/snapshot/load", body)
            #expect(response.status == 400 && fault(response).contains(expected), "\(body): \(fault(response))")
        }
    }
}
