// Host helpers of kiln-oci (the OCI runtime): the relay process's spawn (code between fork and
// exec must be async-signal-safe), its signal forwarding, a pty for `terminal: true`, the
// console socket's SCM_RIGHTS message and setns(2), none of which Swift can express safely.
#ifndef CHOST_OCI_H
#define CHOST_OCI_H

#include <sys/types.h>
#include "CHost.h"

// Starts the relay `argv[0]` (a path) in its own session with stdin/stdout/stderr the given
// descriptors, every signal reset and unblocked, cwd "/". ctty != 0: the new stdin (a pty
// slave) becomes its controlling terminal (TIOCSCTTY). `record` (may be NULL) runs behind a
// spawn gate (CHost.h): the relay starts only once it is recorded. 0 and *pid, or an errno.
int kiln_oci_spawn_relay(char *const argv[], int in_fd, int out_fd, int err_fd, int ctty,
                         kiln_spawn_recorder record, void *context, pid_t *pid);

// Every signal an engine sends a container (HUP, INT, QUIT, USR1/2, TERM, CONT, TSTP, TTIN,
// TTOU, WINCH, ALRM, the real-time ones...) is written as one byte to `fd` (non-blocking) for the
// relay to forward to the guest command; SA_RESTART. SIGPIPE and SIGXFSZ are ignored.
int kiln_oci_forward_signals(int fd);

// A new pty pair, both ends close-on-exec and the slave not made a controlling terminal;
// `name` receives the slave's path. 0, or -1 and errno.
int kiln_oci_open_pty(int *master, int *slave, char *name, size_t name_size);

// Connects to the Unix socket `path` and sends `fd` in an SCM_RIGHTS message whose data is
// `name` (as runc does for --console-socket). 0, or -1 and errno.
int kiln_oci_send_console(const char *path, int fd, const char *name);

// setns(fd, CLONE_NEWNET). 0, or -1 and errno.
int kiln_oci_setns_net(int fd);

#endif
