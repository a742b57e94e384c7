#define _GNU_SOURCE
#include "CHostOCI.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "CExecReport.h"

int kiln_oci_spawn_relay(char *const argv[], int in_fd, int out_fd, int err_fd, int ctty,
                         kiln_spawn_recorder record, void *context, pid_t *pid_out) {
    int report[2], gate[2];
    if (pipe2(report, O_CLOEXEC) < 0) return errno;
    if (kiln_spawn_gate_open(gate) < 0) { int err = errno; close(report[0]); close(report[1]); return err; }
    pid_t pid = fork();
    if (pid < 0) { int err = errno; close(report[0]); close(report[1]); kiln_spawn_gate_close(gate); return err; }
    if (pid == 0) {
        int rp = report[1];
        // The relay is the container's process: it outlives `kiln-oci create` and is reaped by
        // the engine (conmon, the shim: child subreapers), so it gets a session of its own.
        if (setsid() < 0) kiln_exec_report_and_exit(rp, errno);
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
        if (rp <= 2) { rp = fcntl(rp, F_DUPFD_CLOEXEC, 3); if (rp < 0) _exit(127); }
        // Move the sources above 2 first, so dup2 onto 0..2 cannot overwrite one still needed.
        int fds[3] = {in_fd, out_fd, err_fd};
        for (int i = 0; i < 3; i++) {
            if (fds[i] <= 2) { fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3); if (fds[i] < 0) kiln_exec_report_and_exit(rp, errno); }
        }
        for (int i = 0; i < 3; i++) {
            if (dup2(fds[i], i) < 0) kiln_exec_report_and_exit(rp, errno);
        }
        if (ctty && ioctl(0, TIOCSCTTY, 0) < 0) kiln_exec_report_and_exit(rp, errno);
        if (chdir("/") < 0) kiln_exec_report_and_exit(rp, errno);
        kiln_spawn_gate_wait(gate);
        execv(argv[0], argv);
        kiln_exec_report_and_exit(rp, errno);
    }
    int recorded = kiln_spawn_gate_release(gate, pid, record, context);
    if (recorded != 0) { close(report[0]); close(report[1]); return recorded; }
    return kiln_exec_await_report(report, pid, pid_out);
}

static volatile sig_atomic_t forward_fd = -1;

static void forward_handler(int sig) {
    int saved = errno;
    unsigned char number = (unsigned char)sig;
    ssize_t unused = write(forward_fd, &number, 1);
    (void)unused;
    errno = saved;
}

int kiln_oci_forward_signals(int fd) {
    forward_fd = fd;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = forward_handler;
    action.sa_flags = SA_RESTART;
    sigfillset(&action.sa_mask);
    // Faults are the relay's own and must kill it; KILL and STOP cannot be caught; CHLD is
    // about the relay's own children.
    const int own[] = {SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGCHLD, SIGPIPE, SIGXFSZ, SIGTRAP, SIGABRT, SIGSYS};
    for (int sig = 1; sig <= 64; sig++) {
        int skip = 0;
        for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) if (own[i] == sig) skip = 1;
        // glibc keeps 32 and 33 for its threads.
        if (skip || sig == 32 || sig == 33) continue;
        if (sigaction(sig, &action, NULL) < 0) return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);
    return 0;
}

int kiln_oci_open_pty(int *master, int *slave, char *name, size_t name_size) {
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0) return -1;
    if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, name_size) != 0) {
        int err = errno; close(m); errno = err; return -1;
    }
    int s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) { int err = errno; close(m); errno = err; return -1; }
    *master = m;
    *slave = s;
    return 0;
}

int kiln_oci_send_console(const char *path, int fd, const char *name) {
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof address.sun_path) { errno = ENAMETOOLONG; return -1; }
    strcpy(address.sun_path, path);
    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0) return -1;
    if (connect(sock, (struct sockaddr *)&address, sizeof address) < 0) { int err = errno; close(sock); errno = err; return -1; }
    char control[CMSG_SPACE(sizeof(int))];
    memset(control, 0, sizeof control);
    struct iovec iov = {.iov_base = (void *)name, .iov_len = strlen(name)};
    struct msghdr message = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(header), &fd, sizeof(int));
    ssize_t sent;
    do { sent = sendmsg(sock, &message, MSG_NOSIGNAL); } while (sent < 0 && errno == EINTR);
    int err = errno;
    close(sock);
    if (sent < 0) { errno = err; return -1; }
    return 0;
}

int kiln_oci_setns_net(int fd) { return setns(fd, CLONE_NEWNET); }
