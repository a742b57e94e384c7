#include "CExecReport.h"

#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>

void kiln_exec_report_and_exit(int pipe_fd, int err) {
    ssize_t unused = write(pipe_fd, &err, sizeof err);
    (void)unused;
    _exit(127);
}

int kiln_exec_await_report(int report[2], pid_t pid, pid_t *pid_out) {
    close(report[1]);
    int child_error = 0;
    ssize_t got;
    do { got = read(report[0], &child_error, sizeof child_error); } while (got < 0 && errno == EINTR);
    close(report[0]);
    if (got == (ssize_t)sizeof child_error) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        return child_error ? child_error : EIO;
    }
    *pid_out = pid;
    return 0;
}
