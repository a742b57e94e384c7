// The fork+exec error report shared by the agent (commands) and the host (the VMM): the child
// writes its errno to a close-on-exec pipe only when it fails before exec, so the parent reads
// either EOF (the program runs) or why it could not start.
#ifndef CEXECREPORT_H
#define CEXECREPORT_H

#include <sys/types.h>

// In the child, between fork and exec: async-signal-safe write of `err`, then _exit(127).
void kiln_exec_report_and_exit(int pipe_fd, int err) __attribute__((noreturn));

// In the parent: 0 and *pid_out = pid when the child reached exec; else the child's errno
// (EIO for a short report), the child reaped.
int kiln_exec_await_report(int report[2], pid_t pid, pid_t *pid_out);

#endif
