@testable import API
import Foundation
import Devices
import Testing
import VMM

/// Rate limiters in PUT bodies, and PATCH /drives and /network-interfaces on a running VM.
@Suite struct DeviceUpdateTests {
    typealias Harness = APIControllerTests.Harness

    private func fault(_ response: APIResponse) -> String { APIController.faultMessage(response) ?? "<none>" }

    /// A configured instance with a root drive, a data drive and an interface, started.
    private func running() -> Harness {
        let h = Harness()
        h.configure()
        #expect(h.send("PUT", "/drives/data", #"{"drive_id": "data", "path_on_host": "Package.swift", "is_root_device": false}"#).status == 204)
        #expect(h.send("PUT", "/drives/root", #"{"drive_id": "root", "path_on_host": "Package.swift", "is_root_device": true, "is_read_only": true}"#).status == 204)
        #expect(h.send("PUT", "/network-interfaces/eth0", #"{"iface_id": "eth0", "host_dev_name": "tap0"}"#).status == 204)
        #expect(h.send("PUT", "/actions", #"{"action_type": "InstanceStart"}"#).status == 204)
        return h
    }

    @Test func rateLimitersReachTheVMConfigAndGETVmConfig() throws {
        let h = Harness()
        h.configure()
        let drive = #"{"drive_id": "d", "path_on_host": "Package.swift", "is_root_device": false, "rate_limiter": {"bandwidth": {"size": 1048576, "refill_time": 100}, "ops": {"size": 50, "one_time_burst": 10, "refill_time": 1000}}}"#
        #expect(h.send("PUT", "/drives/d", drive).status == 204)
        let net = #"{"iface_id": "n", "host_dev_name": "tap0", "rx_rate_limiter": {"bandwidth": {"size": 1000, "refill_time": 10}}, "tx_rate_limiter": null}"#
        #expect(h.send("PUT", "/network-interfaces/n", net).status == 204)
        #expect(h.send("PUT", "/actions", #"{"action_type": "InstanceStart"}"#).status == 204)
        let config = try #require(h.started.first)
        #expect(config.drives[0].rateLimiter == RateLimiterConfig(
            bandwidth: TokenBucketConfig(size: 1_048_576, refillTimeMilliseconds: 100),
            ops: TokenBucketConfig(size: 50, oneTimeBurst: 10, refillTimeMilliseconds: 1000)))
        #expect(config.networkInterfaces[0].receiveRateLimiter.bandwidth == TokenBucketConfig(size: 1000, refillTimeMilliseconds: 10))
        #expect(config.networkInterfaces[0].transmitRateLimiter == .unlimited)
        let json = h.config
        #expect(json.contains(#""rate_limiter":{"bandwidth":{"size":1048576,"one_time_burst":0,"refill_time":100},"ops":{"size":50,"one_time_burst":10,"refill_time":1000}}"#), "\(json)")
        #expect(json.contains(#""rx_rate_limiter":{"bandwidth":{"size":1000,"one_time_burst":0,"refill_time":10}}"#), "\(json)")
        #expect(!json.contains("tx_rate_limiter"))
    }

    @Test func badRateLimitersAreRefusedByName() {
        let h = Harness()
        h.configure()
        func drive(_ limiter: String) -> String {
            #"{"drive_id": "d", "path_on_host": "Package.swift", "is_root_device": false, "rate_limiter": "# + limiter + "}"
        }
        for (limiter, expected) in [(#"{"bandwidth": {"size": -1, "refill_time": 100}}"#, "size must be >= 0"),
                                    (#"{"ops": {"size": 5, "refill_time": -3}}"#, "refill_time must be >= 0"),
                                    (#"{"ops": {"size": 5, "refill_time": 1, "one_time_burst": -1}}"#, "one_time_burst"),
                                    (#"{"ops": {"refill_time": 100}}"#, "size"),
                                    (#"{"ops": {"size": 5}}"#, "refill_time"),
                                    (#"{"ops": {"size": "5", "refill_time": 1}}"#, "size"),
                                    (#"{"ops": {"size": 5, "refill_time": 1, "burst": 1}}"#, "unknown field 'burst'"),
                                    (#"{"iops": {}}"#, "unknown field 'iops'"),
                                    (#"[1]"#, "rate_limiter")] {
            let response = h.send("PUT", "/drives/d", drive(limiter))
            #expect(response.status == 400 && fault(response).contains(expected), "\(limiter): \(fault(response))")
        }
        #expect(h.controller.resources.drives.isEmpty)
        let net = #"{"iface_id": "n", "host_dev_name": "tap0", "tx_rate_limiter": {"bandwidth": {"size": 1}}}"#
        #expect(fault(h.send("PUT", "/network-interfaces/n", net)).contains("refill_time"))
        #expect(h.controller.resources.networkInterfaces.isEmpty)
    }

    @Test func patchDriveSwapsTheFileAndLimiterOfTheRunningVM() throws {
        let h = running()
        let body = #"{"drive_id": "data", "path_on_host": "README.md", "rate_limiter": {"ops": {"size": 100, "refill_time": 1000}}}"#
        #expect(h.send("PATCH", "/drives/data", body).status == 204)
        // The VM is told the drive's id, not a bus position the API would have to recompute.
        let update = try #require(h.vm.driveUpdates.first)
        #expect(update.id == "data" && update.path == "README.md")
        #expect(update.limiter?.ops == TokenBucketConfig(size: 100, refillTimeMilliseconds: 1000))
        #expect(h.config.contains(#""path_on_host":"README.md""#))
        #expect(h.send("PATCH", "/drives/root", #"{"drive_id": "root", "rate_limiter": {}}"#).status == 204)
        #expect(h.vm.driveUpdates.last?.id == "root" && h.vm.driveUpdates.last?.path == nil)
        #expect(h.vm.driveUpdates.last?.limiter == .unlimited)
    }

    @Test func badDrivePatchesChangeNothing() {
        let h = running()
        let before = h.config
        for (path, body, expected) in [
            ("/drives/nope", #"{"drive_id": "nope"}"#, "no drive with drive_id 'nope'"),
            ("/drives/data", #"{"drive_id": "root"}"#, "drive_id"),
            ("/drives/data", #"{"drive_id": "data", "is_read_only": true}"#, "unknown field 'is_read_only'"),
            ("/drives/data", #"{"drive_id": "data", "path_on_host": ""}"#, "path_on_host"),
            ("/drives/data", #"{"drive_id": "data", "path_on_host": 7}"#, "path_on_host"),
            ("/drives/data", #"{"drive_id": "data", "rate_limiter": {"ops": {"size": -1, "refill_time": 1}}}"#, "size"),
            ("/drives/data", #"{"path_on_host": "x"}"#, "drive_id"),
        ] {
            let response = h.send("PATCH", path, body)
            #expect(response.status == 400 && fault(response).contains(expected), "\(body): \(fault(response))")
        }
        h.vm.driveUpdateFails = .file(operation: "drive image", path: "/missing", errno: 2)
        let failed = h.send("PATCH", "/drives/data", #"{"drive_id": "data", "path_on_host": "/missing"}"#)
        #expect(failed.status == 400 && fault(failed).contains("/missing"))
        #expect(h.vm.driveUpdates.isEmpty)
        #expect(h.config == before)
    }

    @Test func patchBeforeStartIsRefused() {
        let h = Harness()
        h.configure()
        #expect(h.send("PUT", "/drives/d", #"{"drive_id": "d", "path_on_host": "Package.swift", "is_root_device": false}"#).status == 204)
        #expect(fault(h.send("PATCH", "/drives/d", #"{"drive_id": "d"}"#)).contains("only after InstanceStart"))
        #expect(h.send("PUT", "/network-interfaces/n", #"{"iface_id": "n", "host_dev_name": "tap0"}"#).status == 204)
        #expect(fault(h.send("PATCH", "/network-interfaces/n", #"{"iface_id": "n"}"#)).contains("only after InstanceStart"))
    }

    @Test func patchNetworkInterfaceUpdatesItsLimiters() throws {
        let h = running()
        let body = #"{"iface_id": "eth0", "tx_rate_limiter": {"bandwidth": {"size": 125000, "refill_time": 1000}}}"#
        #expect(h.send("PATCH", "/network-interfaces/eth0", body).status == 204)
        let update = try #require(h.vm.interfaceUpdates.first)
        #expect(update.id == "eth0" && update.rx == nil)
        #expect(update.tx?.bandwidth == TokenBucketConfig(size: 125_000, refillTimeMilliseconds: 1000))
        #expect(h.config.contains(#""tx_rate_limiter":{"bandwidth":{"size":125000"#))
        let before = h.config
        for (path, body, expected) in [
            ("/network-interfaces/eth1", #"{"iface_id": "eth1"}"#, "no network interface"),
            ("/network-interfaces/eth0", #"{"iface_id": "eth0", "host_dev_name": "tap1"}"#, "unknown field 'host_dev_name'"),
            ("/network-interfaces/eth0", #"{"iface_id": "eth0", "rx_rate_limiter": {"ops": {"size": 1}}}"#, "refill_time"),
        ] {
            let response = h.send("PATCH", path, body)
            #expect(response.status == 400 && fault(response).contains(expected), "\(body): \(fault(response))")
        }
        #expect(h.vm.interfaceUpdates.count == 1)
        #expect(h.config == before)
    }
}

@Suite struct EntropyRateLimiterTests {
    @Test func putEntropyTakesARateLimiter() throws {
        let h = APIControllerTests.Harness()
        h.configure()
        #expect(h.send("PUT", "/entropy", #"{"rate_limiter": {"bandwidth": {"size": 1024, "refill_time": 1000}}}"#).status == 204)
        #expect(h.config.contains(#""entropy":{"rate_limiter":{"bandwidth":{"size":1024,"one_time_burst":0,"refill_time":1000}}}"#), "\(h.config)")
        let refused = h.send("PUT", "/entropy", #"{"rate_limiter": {"ops": {"size": -1, "refill_time": 1}}}"#)
        #expect(refused.status == 400 && (APIController.faultMessage(refused) ?? "").contains("size"))
        #expect(h.send("PUT", "/actions", #"{"action_type": "InstanceStart"}"#).status == 204)
        let config = try #require(h.started.first)
        #expect(config.entropy)
        #expect(config.entropyRateLimiter.bandwidth == TokenBucketConfig(size: 1024, refillTimeMilliseconds: 1000))
    }

    @Test func configFileEntropyRateLimiter() throws {
        let file = try ConfigFile.decode(Data(#"{"boot-source": {"kernel_image_path": "/k"}, "entropy": {"rate_limiter": {"ops": {"size": 10, "refill_time": 100}}}}"#.utf8))
        let config = try file.vmConfig()
        #expect(config.entropy && config.entropyRateLimiter.ops == TokenBucketConfig(size: 10, refillTimeMilliseconds: 100))
        let plain = try ConfigFile.decode(Data(#"{"boot-source": {"kernel_image_path": "/k"}, "entropy": {}}"#.utf8)).vmConfig()
        #expect(plain.entropy && plain.entropyRateLimiter == .unlimited)
    }
}
