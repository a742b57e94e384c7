@testable import API
import Devices
import Testing
import VMM

/// A running VM that records what the API asked of it.
final class RecordingVM: RunningVM {
    var isPaused = false
    var ctrlAltDels = 0
    var pauseFails = false
    func pause() throws(VMMError) {
        if pauseFails { throw .invalidState("vCPUs did not stop within 2 s") }
        isPaused = true
    }
    func resume() { isPaused = false }
    func sendCtrlAltDel() throws(VMMError) { ctrlAltDels += 1 }
    var metrics: MachineMetrics { MachineMetrics() }
    var driveUpdates: [(id: String, path: String?, limiter: RateLimiterConfig?)] = []
    var interfaceUpdates: [(id: String, rx: RateLimiterConfig?, tx: RateLimiterConfig?)] = []
    var driveUpdateFails: VMMError?
    func updateDrive(id: String, pathOnHost: String?, rateLimiter: RateLimiterConfig?) throws(VMMError) {
        if let driveUpdateFails { throw driveUpdateFails }
        driveUpdates.append((id, pathOnHost, rateLimiter))
    }
    func updateNetworkInterface(id: String, receive: RateLimiterConfig?, transmit: RateLimiterConfig?) {
        interfaceUpdates.append((id, receive, transmit))
    }
    var snapshots: [SnapshotCreateRequest] = []
    var snapshotFails: VMMError?
    func createSnapshot(_ request: SnapshotCreateRequest) throws(VMMError) {
        if let snapshotFails { throw snapshotFails }
        snapshots.append(request)
    }
}

@Suite struct APIControllerTests {
    final class Harness {
        var started: [VMConfig] = []
        let vm = RecordingVM()
        var failStart: VMMError?
        lazy var controller = APIController(instanceID: "test-vm") { (config: VMConfig) throws(VMMError) -> any RunningVM in
            if let failure = self.failStart { throw failure }
            self.started.append(config)
            return self.vm
        }

        @discardableResult
        func send(_ method: String, _ path: String, _ body: String = "") -> APIResponse {
            controller.handle(APIRequest(method: method, path: path, body: Array(body.utf8)))
        }

        var config: String { controller.resources.json.serialized }

        func configure() {
            #expect(send("PUT", "/boot-source", #"{"kernel_image_path": "Package.swift", "boot_args": "console=ttyS0"}"#).status == 204)
        }
    }

    private func fault(_ response: APIResponse) -> String { APIController.faultMessage(response) ?? "<none>" }

    @Test func instanceInfoAndVersion() {
        let h = Harness()
        let info = h.send("GET", "/")
        #expect(info.status == 200)
        #expect(info.body?.serialized.contains(#""state":"Not started""#) == true)
        #expect(info.body?.serialized.contains(#""id":"test-vm""#) == true)
        #expect(h.send("GET", "/version").body?.serialized.contains("firecracker_version") == true)
    }

    @Test func machineConfigPutPatchGet() {
        let h = Harness()
        #expect(h.send("PUT", "/machine-config", #"{"vcpu_count": 2, "mem_size_mib": 256}"#).status == 204)
        #expect(h.send("PATCH", "/machine-config", #"{"mem_size_mib": 512}"#).status == 204)
        let got = h.send("GET", "/machine-config").body?.serialized ?? ""
        #expect(got.contains(#""vcpu_count":2"#) && got.contains(#""mem_size_mib":512"#))
        // PUT replaces the whole object: both fields are required.
        #expect(fault(h.send("PUT", "/machine-config", #"{"vcpu_count": 1}"#)).contains("mem_size_mib"))
    }

    @Test func rejectedRequestsChangeNothing() {
        let h = Harness()
        h.configure()
        #expect(h.send("PUT", "/machine-config", #"{"vcpu_count": 2, "mem_size_mib": 256}"#).status == 204)
        let before = h.config
        let bad: [(String, String, String, String)] = [
            ("PATCH", "/machine-config", #"{"vcpu_count": 4, "mem_size_mib": 1}"#, "mem_size_mib"),
            ("PATCH", "/machine-config", #"{"vcpu_count": 0}"#, "vcpu_count"),
            ("PATCH", "/machine-config", #"{"vcpu_count": "two"}"#, "vcpu_count"),
            ("PUT", "/machine-config", #"{"vcpu_count": 2, "mem_size_mib": 256, "turbo": true}"#, "turbo"),
            ("PUT", "/boot-source", #"{"kernel_image_path": 7}"#, "kernel_image_path"),
            ("PUT", "/boot-source", #"{"kernel_image_path": "/no/such/vmlinux"}"#, "No such file"),
            ("PUT", "/boot-source", #"{"kernel_image_path": "/"}"#, "not a regular file"),
            ("PUT", "/drives/data", #"{"drive_id": "data", "path_on_host": "/no/such/disk", "is_root_device": false}"#, "/no/such/disk"),
            ("PUT", "/boot-source", "{not json", "JSON"),
            ("PUT", "/boot-source", "", "body"),
            ("PUT", "/drives/rootfs", #"{"drive_id": "other", "path_on_host": "/d", "is_root_device": true}"#, "differs"),
            ("PUT", "/drives/bad%20id", #"{"drive_id": "bad id", "path_on_host": "/d", "is_root_device": true}"#, "drive_id"),
            ("PUT", "/network-interfaces/eth0", #"{"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "zz"}"#, "guest_mac"),
            ("PUT", "/vsock", #"{"guest_cid": 2, "uds_path": "/v.sock"}"#, "guest_cid"),
            ("PUT", "/logger", #"{"level": "Loud"}"#, "level"),
            ("PUT", "/metrics", #"{"metrics_path": "/nonexistent-dir/m"}"#, "metrics"),
            ("PUT", "/actions", #"{"action_type": "Explode"}"#, "action_type"),
            ("PUT", "/actions", #"{"action_type": "SendCtrlAltDel"}"#, "running VM"),
            ("PUT", "/actions", #"{"action_type": "FlushMetrics"}"#, "metrics"),
            ("PATCH", "/vm", #"{"state": "Paused"}"#, "not running"),
            ("PATCH", "/drives/nope", #"{"drive_id": "nope"}"#, "nope"),
            ("DELETE", "/machine-config", "", "not a valid request"),
            ("GET", "/no/such/thing", "", "no such endpoint"),
        ]
        for (method, path, body, expected) in bad {
            let response = h.send(method, path, body)
            #expect(response.status == 400, "\(method) \(path) \(body)")
            #expect(fault(response).contains(expected), "\(method) \(path): '\(fault(response))' should mention \(expected)")
            #expect(h.config == before, "\(method) \(path) changed the configuration")
        }
        #expect(h.started.isEmpty)
    }

    @Test func drivesKeepOrderAndOneRoot() {
        let h = Harness()
        h.configure()
        #expect(h.send("PUT", "/drives/data", #"{"drive_id": "data", "path_on_host": "README.md", "is_root_device": false}"#).status == 204)
        #expect(h.send("PUT", "/drives/root", #"{"drive_id": "root", "path_on_host": ".gitignore", "is_root_device": true, "is_read_only": true}"#).status == 204)
        #expect(fault(h.send("PUT", "/drives/root2", #"{"drive_id": "root2", "path_on_host": "README.md", "is_root_device": true}"#))
            .contains("already the root device"))
        // Replacing keeps the place.
        #expect(h.send("PUT", "/drives/data", #"{"drive_id": "data", "path_on_host": "Package.swift", "is_root_device": false}"#).status == 204)
        #expect(h.controller.resources.drives.map(\.pathOnHost) == ["Package.swift", ".gitignore"])
        let config = try? h.controller.resources.vmConfig()
        #expect(config?.drives.map(\.path) == [".gitignore", "Package.swift"])
        #expect(config?.commandLine.hasSuffix("root=/dev/vda ro") == true)
    }

    @Test func lifecycle() {
        let h = Harness()
        h.configure()
        #expect(h.send("PUT", "/machine-config", #"{"vcpu_count": 2, "mem_size_mib": 64}"#).status == 204)
        #expect(h.send("PUT", "/entropy", "{}").status == 204)
        #expect(h.send("PUT", "/actions", #"{"action_type": "InstanceStart"}"#).status == 204)
        #expect(h.started.count == 1)
        #expect(h.started.first?.vcpuCount == 2 && h.started.first?.memoryMiB == 64 && h.started.first?.entropy == true)
        #expect(h.send("GET", "/").body?.serialized.contains(#""state":"Running""#) == true)

        // Pre-boot-only requests are refused once running, and change nothing.
        let before = h.config
        for (path, body) in [("/machine-config", #"{"vcpu_count": 1, "mem_size_mib": 64}"#),
                             ("/boot-source", #"{"kernel_image_path": "/other"}"#),
                             ("/drives/x", #"{"drive_id": "x", "path_on_host": "/x", "is_root_device": false}"#),
                             ("/vsock", #"{"guest_cid": 3, "uds_path": "/v"}"#),
                             ("/logger", #"{"level": "Debug"}"#)] {
            let response = h.send("PUT", path, body)
            #expect(response.status == 400 && fault(response).contains("after InstanceStart"), "PUT \(path)")
        }
        #expect(h.config == before)
        #expect(fault(h.send("PUT", "/actions", #"{"action_type": "InstanceStart"}"#)).contains("already running"))
        #expect(h.started.count == 1)

        #expect(h.send("PATCH", "/vm", #"{"state": "Paused"}"#).status == 204)
        #expect(h.vm.isPaused)
        #expect(h.send("GET", "/").body?.serialized.contains(#""state":"Paused""#) == true)
        #expect(h.send("PATCH", "/vm", #"{"state": "Resumed"}"#).status == 204)
        #expect(!h.vm.isPaused)
        #expect(fault(h.send("PATCH", "/vm", #"{"state": "Sleeping"}"#)).contains("Sleeping"))
        #expect(h.send("PUT", "/actions", #"{"action_type": "SendCtrlAltDel"}"#).status == 204)
        #expect(h.vm.ctrlAltDels == 1)
        h.vm.pauseFails = true
        #expect(fault(h.send("PATCH", "/vm", #"{"state": "Paused"}"#)).contains("did not stop"))
    }

    @Test func failedStartLeavesTheInstanceConfigurable() {
        let h = Harness()
        #expect(fault(h.send("PUT", "/actions", #"{"action_type": "InstanceStart"}"#)).contains("boot source"))
        h.configure()
        h.failStart = .invalidConfiguration("kernel image /k: No such file or directory")
        #expect(fault(h.send("PUT", "/actions", #"{"action_type": "InstanceStart"}"#)).contains("/k"))
        #expect(h.send("GET", "/").body?.serialized.contains("Not started") == true)
        h.failStart = nil
        #expect(h.send("PUT", "/actions", #"{"action_type": "InstanceStart"}"#).status == 204)
    }

    @Test func fullConfigurationEchoesFirecrackerNames() {
        let h = Harness()
        h.configure()
        #expect(h.send("PUT", "/network-interfaces/eth0", #"{"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "06:00:ac:10:00:02"}"#).status == 204)
        #expect(h.send("PUT", "/vsock", #"{"guest_cid": 3, "uds_path": "/tmp/v.sock"}"#).status == 204)
        let json = h.send("GET", "/vm/config").body?.serialized ?? ""
        for key in ["\"boot-source\"", "\"machine-config\"", "\"drives\"", "\"network-interfaces\"", "\"host_dev_name\":\"tap0\"",
                    "\"vsock\":{\"guest_cid\":3", "\"boot_args\":\"console=ttyS0\""] {
            #expect(json.contains(key), "\(key) missing from \(json)")
        }
    }
}

@Suite struct JSONValueTests {
    @Test func escapesStrings() {
        let value = JSONValue.object([("a\"b", .string("line\nbreak\u{1}\\")), ("n", .array([.int(-1), .uint(2), .bool(true), .null]))])
        #expect(value.serialized == #"{"a\"b":"line\nbreak\u0001\\","n":[-1,2,true,null]}"#)
    }
}

@Suite struct MetricsReflectionTests {
    struct Sample { var rxFrames: UInt64 = 3; var txBytes: UInt64 = 7; var name = "ignored" }

    @Test func countersBecomeSnakeCaseObjects() {
        #expect(MetricsSink.json(reflecting: Sample()).serialized == #"{"rx_frames":3,"tx_bytes":7}"#)
    }
}
