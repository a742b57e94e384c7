import API
import Foundation
import Testing
import VMM

@Suite struct ConfigFileTests {
    func decode(_ json: String) throws(ConfigurationError) -> ConfigFile {
        try ConfigFile.decode(Data(json.utf8))
    }

    func error(_ json: String) -> String? {
        do { _ = try decode(json) } catch { return error.description }
        return nil
    }

    @Test func fullConfigurationBecomesAVMConfig() throws {
        let file = try decode("""
            {"boot-source": {"kernel_image_path": "/k", "boot_args": "console=ttyS0", "initrd_path": "/i"},
             "machine-config": {"vcpu_count": 2, "mem_size_mib": 256, "smt": false},
             "drives": [{"drive_id": "data", "path_on_host": "/d", "is_root_device": false, "is_read_only": true},
                        {"drive_id": "rootfs", "path_on_host": "/r", "is_root_device": true, "is_read_only": false}],
             "entropy": {}, "network-interfaces": []}
            """)
        let config = try file.vmConfig()
        #expect(config.kernelPath == "/k")
        #expect(config.initrdPath == "/i")
        #expect(config.vcpuCount == 2 && config.memoryMiB == 256)
        // The root device is /dev/vda whatever its place in the list, and is named on the cmdline.
        #expect(config.drives == [DriveConfig(path: "/r", readOnly: false), DriveConfig(path: "/d", readOnly: true)])
        #expect(config.commandLine == "console=ttyS0 root=/dev/vda rw")
        #expect(config.entropy)
    }

    @Test func ioEngineIsPassedToTheDrive() throws {
        let config = try decode("""
            {"boot-source": {"kernel_image_path": "/k"},
             "drives": [{"drive_id": "a", "path_on_host": "/a", "is_root_device": true, "io_engine": "Async"},
                        {"drive_id": "s", "path_on_host": "/s", "is_root_device": false, "io_engine": "Sync"},
                        {"drive_id": "d", "path_on_host": "/d", "is_root_device": false}]}
            """).vmConfig()
        #expect(config.drives.map(\.ioEngine) == [.async, .sync, DriveConfig.defaultIOEngine])
    }

    @Test func defaultsWhenOnlyTheKernelIsGiven() throws {
        let config = try decode(#"{"boot-source": {"kernel_image_path": "/k"}}"#).vmConfig()
        #expect(config.vcpuCount == 1 && config.memoryMiB == VMConfig.defaultMemoryMiB)
        #expect(config.commandLine == VMConfig.defaultCommandLine)
        #expect(config.drives.isEmpty && !config.entropy)
    }

    @Test func unknownFieldsAreRejectedAtEveryLevel() {
        #expect(error(#"{"boot-source": {"kernel_image_path": "/k"}, "bogus": 1}"#)?.contains("unknown field 'bogus'") == true)
        #expect(error(#"{"boot-source": {"kernel_image_path": "/k", "bootargs": "x"}}"#)?.contains("'bootargs' in boot-source") == true)
        #expect(error(#"{"boot-source": {"kernel_image_path": "/k"}, "machine-config": {"vcpu_count": 1, "mem_size_mib": 64, "vcpus": 2}}"#)?
            .contains("'vcpus'") == true)
    }

    @Test func wrongTypesAndMissingFieldsAreNamed() {
        #expect(error(#"{"boot-source": {"kernel_image_path": 5}}"#)?.contains("boot-source.kernel_image_path") == true)
        #expect(error(#"{"machine-config": {"vcpu_count": 1, "mem_size_mib": 64}}"#)?.contains("missing field 'boot-source'") == true)
        #expect(error(#"{"boot-source": {"kernel_image_path": "/k"}, "machine-config": {"vcpu_count": "two", "mem_size_mib": 64}}"#)?
            .contains("vcpu_count") == true)
        #expect(error("{not json")?.contains("invalid JSON") == true)
    }

    @Test func outOfRangeValues() {
        let base = #"{"boot-source": {"kernel_image_path": "/k"}, "machine-config": "#
        #expect(error(base + #"{"vcpu_count": 0, "mem_size_mib": 64}}"#)?.contains("vcpu_count must be 1 to 32") == true)
        #expect(error(base + #"{"vcpu_count": 33, "mem_size_mib": 64}}"#)?.contains("vcpu_count") == true)
        #expect(error(base + #"{"vcpu_count": 1, "mem_size_mib": 0}}"#)?.contains("mem_size_mib") == true)
        #expect(error(base + #"{"vcpu_count": 1, "mem_size_mib": 64, "smt": true}}"#)?.contains("smt") == true)
    }

    @Test func driveRules() {
        let kernel = #"{"boot-source": {"kernel_image_path": "/k"}, "drives": "#
        let a = #"{"drive_id": "a", "path_on_host": "/a", "is_root_device": true}"#
        let b = #"{"drive_id": "b", "path_on_host": "/b", "is_root_device": true}"#
        #expect(error(kernel + "[\(a), \(a)]}")?.contains("appears twice") == true)
        #expect(error(kernel + "[\(a), \(b)]}")?.contains("more than one drive") == true)
        #expect(error(kernel + #"[{"drive_id": "bad id", "path_on_host": "/a", "is_root_device": false}]}"#)?
            .contains("drive_id") == true)
        #expect(error(kernel + #"[{"drive_id": "a", "path_on_host": "/a", "is_root_device": false, "io_engine": "Uring"}]}"#)?
            .contains("io_engine must be Sync or Async") == true)
        #expect(error(kernel + #"[{"drive_id": "a", "path_on_host": "/a", "is_root_device": false, "io_engine": "async"}]}"#)?
            .contains("io_engine") == true)  // Firecracker's spelling only
    }

    @Test func unimplementedSectionsAreRefusedByName() {
        #expect(error(#"{"boot-source": {"kernel_image_path": "/k"}, "mmds-config": {"network_interfaces": []}}"#)?
            .contains("'mmds-config' is not supported") == true)
        #expect(error(#"{"boot-source": {"kernel_image_path": "/k"}, "vsock": {"guest_cid": 2, "uds_path": "/v"}}"#)?
            .contains("guest_cid must be 3") == true)
        #expect(error(#"{"boot-source": {"kernel_image_path": "/k"}, "network-interfaces": [{"iface_id": "eth0"}]}"#)?
            .contains("host_dev_name") == true)
        #expect(error(#"{"boot-source": {"kernel_image_path": "/k"}, "entropy": {"rate_limiter": {"ops": {"size": 1}}}}"#)?
            .contains("refill_time") == true)
        #expect(error(#"{"boot-source": {"kernel_image_path": "/k"}, "entropy": {"limit": 1}}"#)?
            .contains("unknown field 'limit' in entropy") == true)
    }

    @Test func missingFileIsNamed() {
        do {
            _ = try ConfigFile.load(path: "/nonexistent/vm.json")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("/nonexistent/vm.json"))
            #expect(error.description.contains("No such file"))
        }
    }
}
