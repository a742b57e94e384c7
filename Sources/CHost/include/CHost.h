// C shim for the host side of the sandbox (`kiln run`, `kiln create`, `kiln gc`, the agent's
// client): the code between fork and exec of the VMM (only async-signal-safe calls there),
// signal handlers, the TUN ioctls of `--net`, AF_VSOCK connects, pipe2, and the wait-status
// macros Swift cannot import. The guest agent's helpers are in CAgent; this shim never goes
// into the static guest binary.
#ifndef CHOST_H
#define CHOST_H

#include <stdint.h>
#include <sys/types.h>

// Creates the TAP `name` (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, as the VMM opens it) exclusively
// (IFF_TUN_EXCL: EBUSY if the name exists) and returns the descriptor holding it. It is not
// persistent yet: the kernel deletes it when that descriptor closes, so a process killed before
// kiln_tap_keep leaves no TAP (the window in which its record is written). Needs CAP_NET_ADMIN.
// The descriptor, or -1 and errno with *failed naming the step.
int kiln_tap_claim(const char *name, const char **failed);

// Makes a claimed TAP persistent, owned by `owner`/`group` when they are not UINT32_MAX (so an
// unprivileged VMM may attach), and closes `fd`, leaving it unattached. 0, or -1 and errno with
// *failed naming the step (the TAP is gone then: it was never made persistent).
int kiln_tap_keep(int fd, uint32_t owner, uint32_t group, const char **failed);

// Deletes the persistent TAP `name`: attach, TUNSETPERSIST 0, close. 0 when it is gone (or
// was already), -1 and errno otherwise (EBUSY: a process still has it attached).
int kiln_tap_delete(const char *name, const char **failed);

// Called in the parent between fork and the child's exec with the child's pid: records it
// (writes its identity where a later `delete` finds it). 0 lets the child exec; an errno kills
// and reaps the child and becomes the spawn's result.
typedef int (*kiln_spawn_recorder)(pid_t pid, void *context);

// A spawn gate: the child blocks before exec until the parent has run its recorder and written
// the go-ahead. A parent killed before that closes the pipe, and the child exits (125) instead
// of starting anything no record names. open: pipe2 O_CLOEXEC (-1 and errno); close: both ends
// (a failed fork); wait: in the child, before exec (async-signal-safe); release: in the parent
// after fork, returns the recorder's errno (0: the child goes on).
int kiln_spawn_gate_open(int gate[2]);
void kiln_spawn_gate_close(int gate[2]);
void kiln_spawn_gate_wait(int gate[2]);
int kiln_spawn_gate_release(int gate[2], pid_t pid, kiln_spawn_recorder record, void *context);

// Starts the VMM child `argv[0]` (a path). detached == 0 (`kiln run`): its own process group,
// so the terminal's Ctrl-C reaches only `kiln run`, and PR_SET_PDEATHSIG = SIGKILL, so it dies
// with `kiln run` even when that is killed with SIGKILL. detached != 0 (`kiln create`): its own
// session and no death signal, so the VM outlives the creating process. stdout/stderr of the
// child become the given descriptors. `record` (may be NULL) runs behind a spawn gate: the child
// execs only once it returned 0. 0 and *pid, or an errno.
int kiln_spawn_vmm_mode(char *const argv[], int stdout_fd, int stderr_fd, int detached,
                        kiln_spawn_recorder record, void *context, pid_t *pid);

// PR_SET_PDEATHSIG = SIGKILL for the calling process; -1 if that fails or `parent` is no longer
// its parent (it died before the signal was armed).
int kiln_die_with_parent(pid_t parent);

// SIGINT/SIGTERM/SIGALRM handling for `kiln run`: the first SIGINT (or SIGTERM) is written as a
// byte to `forward_fd` (the client forwards it to the command); a second one, or SIGALRM (the
// --timeout), kills `vmm_pid` with SIGKILL. With vmm_pid 0 (`kiln exec`: the VM stays) SIGALRM
// forwards SIGKILL to the command and a second SIGINT exits 130. kiln_run_timed_out() /
// kiln_run_interrupts() say which happened.
int kiln_run_install_signal_handlers(int forward_fd, pid_t vmm_pid);
int kiln_run_timed_out(void);
int kiln_run_interrupts(void);

// AF_VSOCK stream socket connected to (cid, port): a guest reached through the host kernel's
// vsock (vhost-vsock, as QEMU provides), the agent's client's `.vsock` endpoint. -1 and errno.
int kiln_vsock_connect(uint32_t cid, uint32_t port);

// pipe2(O_CLOEXEC), a GNU extension Swift's Glibc module hides: the signal-forwarding pipes of
// `kiln run`/`exec` and kiln-oci's relay, debugfs's output. 0 or -1 and errno.
int kiln_host_pipe(int fds[2]);

// Decoding of a wait status (the W* macros are not importable into Swift).
int kiln_host_exited(int status);
int kiln_host_exit_code(int status);
int kiln_host_signaled(int status);
int kiln_host_term_signal(int status);

// kiln-oci's helpers (the relay, pty, console socket, setns).
#include "CHostOCI.h"

#endif
