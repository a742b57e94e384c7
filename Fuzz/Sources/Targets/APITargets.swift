#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import API
import Devices
import Logging
import VMM

/// A VM that only records: InstanceStart and snapshot/load in the fuzzer never touch KVM.
final class InertVM: RunningVM {
    var isPaused = false
    func pause() throws(VMMError) { isPaused = true }
    func resume() { isPaused = false }
    func sendCtrlAltDel() throws(VMMError) {}
    var metrics: MachineMetrics { MachineMetrics() }
    func updateDrive(id: String, pathOnHost: String?, rateLimiter: RateLimiterConfig?) throws(VMMError) {}
    func updateNetworkInterface(id: String, receive: RateLimiterConfig?, transmit: RateLimiterConfig?) {}
    func createSnapshot(_ request: SnapshotCreateRequest) throws(VMMError) {}
}

/// The controller logs every refused request; the fuzzer sends millions.
private let quietLogging: Void = LoggingSystem.bootstrap { _ in SwiftLogNoOpLogHandler() }

/// Endpoints, as a guess for most inputs. `logger` and `metrics` are left out on purpose:
/// they open (and create) the host files the body names, and the fuzzer runs as root.
private let endpoints = ["/", "/version", "/machine-config", "/boot-source", "/drives/rootfs", "/drives/x",
                         "/network-interfaces/eth0", "/vsock", "/entropy", "/actions", "/vm/config", "/vm",
                         "/snapshot/create", "/snapshot/load", "/drives/", "/drives/a/b"]
private let methods = ["GET", "PUT", "PATCH", "DELETE", "POST"]

extension Array where Element == UInt8 {
    /// Whether `word`'s UTF-8 bytes occur in these bytes.
    func contains(_ word: String) -> Bool {
        let needle = Array(word.utf8)
        guard count >= needle.count else { return false }
        return (0...(count - needle.count)).contains { self[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}

/// A session of API requests against one controller: method, path and JSON body from the
/// input, so requests build on each other (configure, InstanceStart, PATCH after it).
let apiTarget = FuzzTarget(name: "api", guestFacing: false, run: { bytes in
    _ = quietLogging
    var input = FuzzInput(bytes)
    let controller = APIController(seccomp: false, start: { (_: VMConfig) throws(VMMError) -> any RunningVM in InertVM() },
                                   restore: { (_: SnapshotLoadRequest) throws(VMMError) -> any RunningVM in InertVM() })
    for _ in 0..<8 where !input.isEmpty {
        let method = methods[Int(input.byte()) % methods.count]
        let selector = input.byte()
        var path = endpoints[Int(selector) % endpoints.count]
        if selector >= 240 {
            // Only a path from the input can name them (a String search here cost 6 % of the target).
            let bytes = input.bytes(upTo: 64)
            path = bytes.contains("logger") || bytes.contains("metrics") ? "/version" : String(decoding: bytes, as: UTF8.self)
        }
        let body = input.bytes(upTo: 2048)
        let response = controller.handle(APIRequest(method: method, path: path, body: body))
        precondition((200..<300).contains(response.status) || response.status == 400 || response.status == 404
                         || response.status == 405 || response.status == 413,
                     "unexpected status \(response.status)")
    }
}, seeds: {
    func request(_ method: UInt8, _ endpoint: String, _ body: String) -> [UInt8] {
        var bytes: [UInt8] = [method, UInt8(endpoints.firstIndex(of: endpoint)!)]
        bytes.append(le: UInt16(body.utf8.count))
        return bytes + Array(body.utf8)
    }
    let machine = request(1, "/machine-config", #"{"vcpu_count": 2, "mem_size_mib": 256, "smt": false}"#)
    let boot = request(1, "/boot-source", #"{"kernel_image_path": "/bin/sh", "boot_args": "console=ttyS0"}"#)
    let drive = request(1, "/drives/rootfs", #"{"drive_id": "rootfs", "path_on_host": "/bin/sh", "is_root_device": true, "is_read_only": true, "rate_limiter": {"bandwidth": {"size": 1000, "refill_time": 100}}}"#)
    let net = request(1, "/network-interfaces/eth0", #"{"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "06:00:00:00:00:01"}"#)
    let start = request(1, "/actions", #"{"action_type": "InstanceStart"}"#)
    let pause = request(2, "/vm", #"{"state": "Paused"}"#)
    let snapshot = request(1, "/snapshot/create", #"{"snapshot_type": "Full", "snapshot_path": "/nonexistent/s", "mem_file_path": "/nonexistent/m"}"#)
    return [machine + boot + drive + net + start + pause + snapshot, request(0, "/", ""), request(1, "/vsock", #"{"guest_cid": 3, "uds_path": "/nonexistent/v.sock"}"#)]
})

/// `--config-file`: decoding and validation into a VMConfig (no file is opened to decode).
let configTarget = FuzzTarget(name: "config", guestFacing: false, run: { bytes in
    guard let file = try? ConfigFile.decode(Data(bytes)) else { return }
    _ = try? file.vmConfig()
}, seeds: {
    [#"{"boot-source": {"kernel_image_path": "/bin/sh", "boot_args": "console=ttyS0", "initrd_path": null}, "machine-config": {"vcpu_count": 1, "mem_size_mib": 128}, "drives": [{"drive_id": "rootfs", "path_on_host": "/bin/sh", "is_root_device": true, "is_read_only": true, "io_engine": "Sync"}], "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "tap0"}], "vsock": {"guest_cid": 3, "uds_path": "/tmp/v.sock"}, "entropy": {}, "logger": {"log_path": "/tmp/log", "level": "Info"}}"#,
     #"{"boot-source": {"kernel_image_path": "k"}, "balloon": null, "mmds-config": {}}"#]
        .map { Array($0.utf8) }
})
