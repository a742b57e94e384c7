#define _GNU_SOURCE
#include "CAgent.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/un.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/vm_sockets.h>
#include <linux/if_tun.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

static const char default_path[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Async-signal-safe write of the whole errno value to the report pipe.
static void report_and_exit(int pipe_fd, int err) {
    ssize_t unused = write(pipe_fd, &err, sizeof err);
    (void)unused;
    _exit(127);
}

/* The parent's side of a fork+exec with a close-on-exec report pipe: the child writes errno
 * there only if it failed before exec, so EOF means the command runs. */
static int await_exec_report(int report[2], pid_t pid, pid_t *pid_out) {
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

// Moves `fd` onto `target`, keeping it open across exec.
static int move_fd(int fd, int target) {
    if (fd == target) {
        int flags = fcntl(fd, F_GETFD);
        return flags < 0 ? -1 : fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
    }
    return dup2(fd, target) < 0 ? -1 : 0;
}

static const char *find_path_variable(char *const envp[]) {
    for (char *const *e = envp; *e; e++)
        if (strncmp(*e, "PATH=", 5) == 0) return *e + 5;
    return default_path;
}

// execvpe's search, but over the PATH of the child's environment rather than the agent's own,
// without allocating (runs after fork).
static int exec_searching(char *const argv[], char *const envp[]) {
    const char *name = argv[0];
    if (strchr(name, '/')) { execve(name, argv, envp); return errno; }
    size_t name_len = strlen(name);
    if (name_len == 0 || name_len > NAME_MAX) return ENOENT;
    const char *path = find_path_variable(envp);
    int result = ENOENT;
    char buffer[PATH_MAX];
    while (1) {
        const char *end = strchrnul(path, ':');
        size_t dir_len = (size_t)(end - path);
        if (dir_len + 1 + name_len + 1 <= sizeof buffer) {
            size_t at = 0;
            if (dir_len == 0) buffer[at++] = '.';
            else { memcpy(buffer, path, dir_len); at = dir_len; }
            buffer[at++] = '/';
            memcpy(buffer + at, name, name_len + 1);
            execve(buffer, argv, envp);
            // Like execvp: permission problems win over "not found"; other errors stop the search.
            if (errno == EACCES) result = EACCES;
            else if (errno != ENOENT && errno != ENOTDIR) return errno;
        }
        if (*end == '\0') break;
        path = end + 1;
    }
    return result;
}

int kiln_agent_spawn(char *const argv[], char *const envp[], const char *cwd,
                     uint32_t uid, uint32_t gid, int stdin_fd, int stdout_fd, int stderr_fd,
                     pid_t *pid_out) {
    if (!argv || !argv[0]) return EINVAL;
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0) return errno;
    pid_t pid = fork();
    if (pid < 0) { int err = errno; close(report[0]); close(report[1]); return err; }
    if (pid == 0) {
        // Child: async-signal-safe calls only.
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
        setsid();
        // Park the report pipe above the standard descriptors so dup2 cannot clobber it.
        int rp = report[1];
        if (rp <= 2) { rp = fcntl(report[1], F_DUPFD_CLOEXEC, 3); if (rp < 0) report_and_exit(report[1], errno); }
        int in = stdin_fd, out = stdout_fd, err = stderr_fd;
        // Any source that sits on a lower standard slot is copied up first.
        if (in >= 0 && in <= 2 && in != 0) in = fcntl(in, F_DUPFD_CLOEXEC, 3);
        if (out >= 0 && out <= 2 && out != 1) out = fcntl(out, F_DUPFD_CLOEXEC, 3);
        if (err >= 0 && err <= 2 && err != 2) err = fcntl(err, F_DUPFD_CLOEXEC, 3);
        if (in < 0 || out < 0 || err < 0) report_and_exit(rp, errno ? errno : EBADF);
        if (move_fd(in, 0) < 0 || move_fd(out, 1) < 0 || move_fd(err, 2) < 0) report_and_exit(rp, errno);
        // Everything else is closed except the report pipe (close-on-exec).
        if (rp > 3) syscall(SYS_close_range, 3, rp - 1, 0);
        syscall(SYS_close_range, rp + 1, ~0U, 0);
        if (gid != UINT32_MAX) {
            if (setgroups(0, NULL) < 0 && errno != EPERM) report_and_exit(rp, errno);
            if (setgid(gid) < 0) report_and_exit(rp, errno);
        }
        if (uid != UINT32_MAX && setuid(uid) < 0) report_and_exit(rp, errno);
        if (cwd && chdir(cwd) < 0) report_and_exit(rp, errno);
        report_and_exit(rp, exec_searching(argv, envp));
    }
    return await_exec_report(report, pid, pid_out);
}

int kiln_agent_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

pid_t kiln_agent_peek_exited_child(void) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_ALL, 0, &info, WEXITED | WNOWAIT) < 0) return -1;
    return info.si_pid;
}

int kiln_agent_vsock_listen(uint32_t port, int backlog) {
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_vm addr;
    memset(&addr, 0, sizeof addr);
    addr.svm_family = AF_VSOCK;
    addr.svm_cid = VMADDR_CID_ANY;
    addr.svm_port = port;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, backlog) < 0) {
        int err = errno; close(fd); errno = err; return -1;
    }
    return fd;
}

int kiln_agent_interface_up(const char *name) {
    if (strlen(name) >= IFNAMSIZ) { errno = ENAMETOOLONG; return -1; }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct ifreq req;
    memset(&req, 0, sizeof req);
    strcpy(req.ifr_name, name);
    int result = ioctl(fd, SIOCGIFFLAGS, &req);
    if (result == 0) {
        req.ifr_flags |= IFF_UP | IFF_RUNNING;
        result = ioctl(fd, SIOCSIFFLAGS, &req);
    }
    int err = errno;
    close(fd);
    errno = err;
    return result;
}

static void set_ipv4(struct sockaddr *target, uint32_t address) {
    struct sockaddr_in in;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(address);
    memcpy(target, &in, sizeof in);
}

int kiln_interface_set_ipv4(const char *name, uint32_t address, uint32_t netmask, const char **failed) {
    *failed = "socket";
    if (strlen(name) >= IFNAMSIZ) { errno = ENAMETOOLONG; *failed = "interface name"; return -1; }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct ifreq req;
    memset(&req, 0, sizeof req);
    strcpy(req.ifr_name, name);
    set_ipv4(&req.ifr_addr, address);
    int result = ioctl(fd, SIOCSIFADDR, &req);
    *failed = "SIOCSIFADDR";
    if (result == 0) {
        // After the address: setting it resets the netmask to the address's class default.
        set_ipv4(&req.ifr_netmask, netmask);
        result = ioctl(fd, SIOCSIFNETMASK, &req);
        *failed = "SIOCSIFNETMASK";
    }
    if (result == 0) {
        *failed = "SIOCGIFFLAGS";
        result = ioctl(fd, SIOCGIFFLAGS, &req);
    }
    if (result == 0) {
        *failed = "SIOCSIFFLAGS";
        req.ifr_flags |= IFF_UP;
        result = ioctl(fd, SIOCSIFFLAGS, &req);
    }
    int err = errno;
    close(fd);
    errno = err;
    if (result == 0) *failed = NULL;
    return result;
}

int kiln_agent_add_default_route(uint32_t gateway, const char *device) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct rtentry route;
    memset(&route, 0, sizeof route);
    set_ipv4(&route.rt_dst, 0);
    set_ipv4(&route.rt_genmask, 0);
    set_ipv4(&route.rt_gateway, gateway);
    route.rt_flags = RTF_UP | RTF_GATEWAY;
    route.rt_dev = (char *)device;
    int result = ioctl(fd, SIOCADDRT, &route);
    int err = errno;
    close(fd);
    errno = err;
    return result;
}

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

int kiln_tap_create(const char *name, uint32_t owner, uint32_t group, const char **failed) {
    int fd = tap_attach(name, IFF_TUN_EXCL, failed);
    if (fd < 0) return -1;
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

int kiln_agent_power_off(void) {
    sync();
    return reboot(RB_POWER_OFF);
}

int kiln_agent_exited(int status) { return WIFEXITED(status); }
int kiln_agent_exit_code(int status) { return WEXITSTATUS(status); }
int kiln_agent_signaled(int status) { return WIFSIGNALED(status); }
int kiln_agent_term_signal(int status) { return WTERMSIG(status); }

int kiln_agent_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
int kiln_agent_accept(int listener) { return accept4(listener, NULL, NULL, SOCK_CLOEXEC); }

int kiln_agent_pivot_to_cwd(void) {
    if (syscall(SYS_pivot_root, ".", ".") < 0) return -1;
    return umount2(".", MNT_DETACH);
}

int kiln_agent_write_phys_byte(uint64_t address, uint8_t value) {
    int fd = open("/dev/mem", O_RDWR | O_SYNC | O_CLOEXEC);
    if (fd < 0) return -1;
    long page = sysconf(_SC_PAGESIZE);
    uint64_t base = address & ~(uint64_t)(page - 1);
    void *map = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)base);
    int err = errno;
    close(fd);
    if (map == MAP_FAILED) { errno = err; return -1; }
    *((volatile uint8_t *)map + (address - base)) = value;
    munmap(map, (size_t)page);
    return 0;
}

int kiln_vsock_connect(uint32_t cid, uint32_t port) {
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_vm addr;
    memset(&addr, 0, sizeof addr);
    addr.svm_family = AF_VSOCK;
    addr.svm_cid = cid;
    addr.svm_port = port;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { int err = errno; close(fd); errno = err; return -1; }
    return fd;
}

int kiln_spawn_vmm(char *const argv[], int stdout_fd, int stderr_fd, pid_t *pid_out) {
    return kiln_spawn_vmm_mode(argv, stdout_fd, stderr_fd, 0, pid_out);
}

int kiln_spawn_vmm_mode(char *const argv[], int stdout_fd, int stderr_fd, int detached, pid_t *pid_out) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0) return errno;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) { int err = errno; close(report[0]); close(report[1]); return err; }
    if (pid == 0) {
        int rp = report[1];
        if (detached) {
            // A long-lived sandbox outlives `kiln create`: its own session, no death signal.
            if (setsid() < 0) report_and_exit(rp, errno);
        } else {
            if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) report_and_exit(rp, errno);
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
        if (devnull < 0 || dup2(devnull, 0) < 0) report_and_exit(rp, errno);
        if (stdout_fd >= 0 && stdout_fd != 1 && dup2(stdout_fd, 1) < 0) report_and_exit(rp, errno);
        if (stderr_fd >= 0 && stderr_fd != 2 && dup2(stderr_fd, 2) < 0) report_and_exit(rp, errno);
        execv(argv[0], argv);
        report_and_exit(rp, errno);
    }
    return await_exec_report(report, pid, pid_out);
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

void kiln_agent_thread_sigpipe(int block) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    if (block) { pthread_sigmask(SIG_BLOCK, &set, NULL); return; }
    struct timespec zero = {0, 0};
    while (sigtimedwait(&set, NULL, &zero) == SIGPIPE) {}
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

int kiln_die_with_parent(pid_t parent) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) return -1;
    return getppid() == parent ? 0 : -1;
}
