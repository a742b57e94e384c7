// C shim for the guest agent only (the host's helpers are in CHost, the interface ioctls both
// use in CNetInterface): what Swift cannot do safely or at all — the code between fork and exec
// (only async-signal-safe calls allowed there), raw syscalls without a libc wrapper (pidfd_open),
// AF_VSOCK addresses, and the route/reboot/mount calls of PID 1.
#ifndef CAGENT_H
#define CAGENT_H

#include <stdint.h>
#include <sys/types.h>
#include "AgentPeer.h"

// Spawns `argv` (argv[0] searched in envp's PATH, or a default PATH, when it has no '/') with
// `envp`, working directory `cwd` (NULL: inherit), and uid/gid (UINT32_MAX: keep). The child's
// stdin/stdout/stderr become the given descriptors, every other descriptor is closed, and all
// signals are reset to their defaults and unblocked. Returns 0 and sets *pid, or an errno that
// says why the child could not start (it has then already been reaped): the child, which
// shares the agent's memory until it execs (vfork), leaves the errno of a failing
// chdir/setgid/setuid/execve there before it exits.
int kiln_agent_spawn(char *const argv[], char *const envp[], const char *cwd,
                     uint32_t uid, uint32_t gid, int stdin_fd, int stdout_fd, int stderr_fd,
                     pid_t *pid);

// One setrlimit for kiln_agent_spawn_with.
struct kiln_agent_rlimit {
    uint32_t resource;
    uint64_t soft;
    uint64_t hard;
};

// What an extended exec adds (agent protocol message 0x12), applied in the child as root, in
// this order: the resource limits, `make_cwd` (a missing cwd and its missing parents are made,
// 0755 root-owned, as runc does), the supplementary groups (when gid is set; otherwise they are
// left alone), then gid, uid, chdir and exec as kiln_agent_spawn.
struct kiln_agent_spawn_extras {
    const uint32_t *groups;
    size_t group_count;
    const struct kiln_agent_rlimit *limits;
    size_t limit_count;
    int make_cwd;
};

// kiln_agent_spawn with `extras` (NULL: exactly kiln_agent_spawn).
int kiln_agent_spawn_with(char *const argv[], char *const envp[], const char *cwd,
                          uint32_t uid, uint32_t gid, int stdin_fd, int stdout_fd, int stderr_fd,
                          const struct kiln_agent_spawn_extras *extras, pid_t *pid);

// pidfd_open(2): a descriptor that polls readable once `pid` has terminated. -1 and errno.
int kiln_agent_pidfd_open(pid_t pid);

// Blocks until some child is a zombie and returns its pid without reaping it (waitid with
// WNOWAIT). -1 and errno (ECHILD: no children at all).
pid_t kiln_agent_peek_exited_child(void);

// AF_VSOCK stream socket bound to (VMADDR_CID_ANY, port) and listening. -1 and errno.
int kiln_agent_vsock_listen(uint32_t port, int backlog);

// Connects to the host (VMADDR_CID_HOST) on `port` and closes at once: "the agent listens".
// Gives up after one second. 0 or -1 and errno (ECONNRESET: nobody on the host listens).
int kiln_agent_vsock_announce(uint32_t port);

// Adds the default route via `gateway` (host byte order) on `device` (SIOCADDRT). 0 or -1 and errno.
int kiln_agent_add_default_route(uint32_t gateway, const char *device);

// reboot(RB_POWER_OFF) after sync(). Returns only on failure (-1 and errno).
int kiln_agent_power_off(void);

// Makes the current directory (a mount point) the root: pivot_root(".", ".") and a lazy
// unmount of the old root stacked on it. 0 or -1 and errno.
int kiln_agent_pivot_to_cwd(void);

// Writes `value` to guest-physical `address` through /dev/mem (the VMM's boot-time marker,
// as Firecracker's init does). 0 or -1 and errno.
int kiln_agent_write_phys_byte(uint64_t address, uint8_t value);

// pipe2(O_CLOEXEC): a GNU extension Swift's Glibc module hides.
int kiln_agent_pipe(int fds[2]);

// Blocks (1) or restores (0) SIGPIPE for the calling thread only, so a write to a pipe whose
// reader is gone fails with EPIPE instead of killing the process (the session code runs in
// processes that may not ignore SIGPIPE, such as a test runner). A SIGPIPE left pending by such
// a write is consumed before unblocking.
void kiln_agent_thread_sigpipe(int block);

// Decoding of a wait status (the W* macros are not importable into Swift).
int kiln_agent_exit_code(int status);
int kiln_agent_signaled(int status);
int kiln_agent_term_signal(int status);

#endif
