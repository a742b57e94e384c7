#define _GNU_SOURCE
#include "CHost.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "CExecReport.h"
#include <linux/if_tun.h>


// TUNSETIFF on a fresh /dev/net/tun descriptor; -1 and errno (the descriptor closed) on failure.
static int tap_attach(const char *name, short extra_flags, const char **failed) {
    *failed = "interface name";
    if (strlen(name) >= IFNAMSIZ) { errno = ENAMETOOLONG; return -1; }
    *failed = "open /dev/net/tun";
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) return -1;
    struct ifreq req;
    memset(&req, 0, sizeof req);
    strcpy(req.ifr_name, name);
    req.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | extra_flags;
    *failed = "TUNSETIFF";
    if (ioctl(fd, TUNSETIFF, &req) < 0) {
        int err = errno; close(fd); errno = err; return -1;
    }
    return fd;
}

int kiln_tap_claim(const char *name, const char **failed) {
    int fd = tap_attach(name, IFF_TUN_EXCL, failed);
    if (fd >= 0) *failed = NULL;
    return fd;
}

int kiln_tap_keep(int fd, uint32_t owner, uint32_t group, const char **failed) {
    int result = 0;
    if (owner != UINT32_MAX && ioctl(fd, TUNSETOWNER, (unsigned long)owner) < 0) { *failed = "TUNSETOWNER"; result = -1; }
    if (result == 0 && group != UINT32_MAX && ioctl(fd, TUNSETGROUP, (unsigned long)group) < 0) { *failed = "TUNSETGROUP"; result = -1; }
    if (result == 0 && ioctl(fd, TUNSETPERSIST, 1UL) < 0) { *failed = "TUNSETPERSIST 1"; result = -1; }
    // Closing a TAP that is not (yet) persistent deletes it: a failed step leaves nothing.
    int err = errno;
    close(fd);
    errno = err;
    if (result == 0) *failed = NULL;
    return result;
}

int kiln_tap_delete(const char *name, const char **failed) {
    // TUNSETIFF on a missing name would create a TAP just to delete it again.
    if (if_nametoindex(name) == 0) { *failed = NULL; return 0; }
    int fd = tap_attach(name, 0, failed);
    if (fd < 0) return -1;
    int result = ioctl(fd, TUNSETPERSIST, 0UL);
    int err = errno;
    close(fd);
    errno = err;
    *failed = result == 0 ? NULL : "TUNSETPERSIST 0";
    return result;
}

int kiln_spawn_vmm_mode(char *const argv[], int stdout_fd, int stderr_fd, int detached,
                        kiln_spawn_recorder record, void *context, pid_t *pid_out) {
    int report[2], gate[2];
    if (pipe2(report, O_CLOEXEC) < 0) return errno;
    if (kiln_spawn_gate_open(gate) < 0) { int err = errno; close(report[0]); close(report[1]); return err; }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) { int err = errno; close(report[0]); close(report[1]); kiln_spawn_gate_close(gate); return err; }
    if (pid == 0) {
        int rp = report[1];
        if (detached) {
            // A long-lived sandbox outlives `kiln create`: its own session, no death signal.
            if (setsid() < 0) kiln_exec_report_and_exit(rp, errno);
        } else {
            if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) kiln_exec_report_and_exit(rp, errno);
            // The parent may already be gone (then PDEATHSIG never fires).
            if (getppid() != parent) _exit(1);
            setpgid(0, 0);
        }
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
        if (rp <= 2) { rp = fcntl(rp, F_DUPFD_CLOEXEC, 3); if (rp < 0) _exit(127); }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull < 0 || dup2(devnull, 0) < 0) kiln_exec_report_and_exit(rp, errno);
        if (stdout_fd >= 0 && stdout_fd != 1 && dup2(stdout_fd, 1) < 0) kiln_exec_report_and_exit(rp, errno);
        if (stderr_fd >= 0 && stderr_fd != 2 && dup2(stderr_fd, 2) < 0) kiln_exec_report_and_exit(rp, errno);
        kiln_spawn_gate_wait(gate);
        execv(argv[0], argv);
        kiln_exec_report_and_exit(rp, errno);
    }
    int recorded = kiln_spawn_gate_release(gate, pid, record, context);
    if (recorded != 0) { close(report[0]); close(report[1]); return recorded; }
    return kiln_exec_await_report(report, pid, pid_out);
}

static volatile sig_atomic_t run_forward_fd = -1;
static volatile sig_atomic_t run_vmm_pid = 0;
static volatile sig_atomic_t run_interrupts = 0;
static volatile sig_atomic_t run_timed_out = 0;

static void run_signal_handler(int sig) {
    int saved = errno;
    if (sig == SIGALRM) {
        run_timed_out = 1;
        if (run_vmm_pid > 0) {
            kill(run_vmm_pid, SIGKILL);
        } else if (run_forward_fd >= 0) {
            // `kiln exec`: the VM stays; the command is killed through the agent.
            unsigned char number = SIGKILL;
            ssize_t unused = write(run_forward_fd, &number, 1);
            (void)unused;
        }
    } else {
        run_interrupts++;
        if (run_interrupts == 1 && run_forward_fd >= 0) {
            unsigned char number = (unsigned char)sig;
            ssize_t unused = write(run_forward_fd, &number, 1);
            (void)unused;
        } else if (run_vmm_pid > 0) {
            kill(run_vmm_pid, SIGKILL);
        } else {
            // `kiln exec`: a second Ctrl-C gives up on the command; closing the session
            // ends it in the guest.
            _exit(130);
        }
    }
    errno = saved;
}

int kiln_run_install_signal_handlers(int forward_fd, pid_t vmm_pid) {
    run_forward_fd = forward_fd;
    run_vmm_pid = vmm_pid;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = run_signal_handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    if (sigaction(SIGINT, &action, NULL) < 0 || sigaction(SIGTERM, &action, NULL) < 0 ||
        sigaction(SIGALRM, &action, NULL) < 0) return -1;
    return 0;
}

int kiln_run_timed_out(void) { return run_timed_out; }
int kiln_run_interrupts(void) { return run_interrupts; }

int kiln_die_with_parent(pid_t parent) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) return -1;
    return getppid() == parent ? 0 : -1;
}

int kiln_host_exited(int status) { return WIFEXITED(status); }
int kiln_host_exit_code(int status) { return WEXITSTATUS(status); }
int kiln_host_signaled(int status) { return WIFSIGNALED(status); }
int kiln_host_term_signal(int status) { return WTERMSIG(status); }
