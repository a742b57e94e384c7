import Glibc
@testable import OCIRuntime

/// config.json as podman 4 writes it for `podman run --memory 300m --cpus 1.5 busybox sh -c ...`
/// (trimmed: its seccomp profile, masked paths and capabilities are fields kiln ignores, kept in
/// short form so unknown members are exercised).
let podmanConfig = #"""
{
  "ociVersion": "1.0.2-dev",
  "process": {
    "terminal": false,
    "user": {"uid": 1000, "gid": 1000, "additionalGids": [10, 1000], "umask": 18},
    "args": ["sh", "-c", "echo hello"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm", "container=podman", "HOSTNAME=c0ffee"],
    "cwd": "/",
    "capabilities": {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"]},
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1048576}, {"type": "RLIMIT_NPROC", "hard": 4194304, "soft": 4194304}],
    "noNewPrivileges": true,
    "oomScoreAdj": 0
  },
  "root": {"path": "/var/lib/containers/storage/overlay/abc/merged", "readonly": false},
  "hostname": "c0ffee",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/etc/resolv.conf", "type": "bind", "source": "/run/containers/storage/overlay-containers/abc/userdata/resolv.conf", "options": ["bind", "rprivate"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["rprivate", "nosuid", "noexec", "nodev", "relatime", "ro"]}
  ],
  "annotations": {"io.container.manager": "libpod", "org.opencontainers.image.stopSignal": "15"},
  "linux": {
    "resources": {
      "devices": [{"allow": false, "access": "rwm"}],
      "memory": {"limit": 314572800, "swap": 629145600},
      "cpu": {"quota": 150000, "period": 100000},
      "pids": {"limit": 2048}
    },
    "cgroupsPath": "machine.slice:libpod:abc",
    "namespaces": [{"type": "pid"}, {"type": "network", "path": "/run/netns/netns-1234"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
    "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]},
    "maskedPaths": ["/proc/acpi"],
    "readonlyPaths": ["/proc/bus"]
  }
}
"""#

/// The smallest config kiln runs.
func minimalConfig(process: String = #"{"args": ["true"], "cwd": "/"}"#, extra: String = "") -> String {
    #"{"ociVersion": "1.0.0", "process": \#(process), "root": {"path": "rootfs"}\#(extra)}"#
}

func parse(_ text: String) throws(OCIConfigError) -> OCIConfig {
    let document: JSONDocument
    do { document = try JSONDocument.parse(Array(text.utf8)) } catch { throw .syntax(path: "config.json", error) }
    return try OCIConfig.parse(document)
}

/// The error a config is refused with (nil when it is accepted).
func refusal(_ text: String) -> OCIConfigError? {
    do { _ = try parse(text); return nil } catch { return error }
}

/// A scratch directory for one test, removed at the end.
final class Scratch {
    let path: String

    init() {
        var template = Array("/tmp/kiln-oci-tests.XXXXXX".utf8CString)
        path = String(cString: template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!)! })
    }

    deinit { _ = system("rm -rf '\(path)'") }

    func write(_ name: String, _ text: String) -> String {
        let file = "\(path)/\(name)"
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(fd >= 0)
        _ = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        close(fd)
        return file
    }

    func directory(_ name: String) -> String {
        let dir = "\(path)/\(name)"
        precondition(mkdir(dir, 0o755) == 0)
        return dir
    }
}
