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
#include <sys/un.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "CExecReport.h"
#include <linux/vm_sockets.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

static const char default_path[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";


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

// mkdir -p of an absolute path, in the child (no allocation): each missing component is made
// 0755. Components are resolved by the guest's own kernel in the guest's own root, so a symlink
// in the path leads wherever the guest's tree says, as it would for runc inside the container.
static int make_directories(const char *path) {
    char buffer[PATH_MAX];
    size_t length = strlen(path);
    if (length == 0 || length >= sizeof buffer || path[0] != '/') return ENOENT;
    memcpy(buffer, path, length + 1);
    for (size_t i = 1; i <= length; i++) {
        if (buffer[i] != '/' && buffer[i] != '\0') continue;
        char saved = buffer[i];
        buffer[i] = '\0';
        if (mkdir(buffer, 0755) < 0 && errno != EEXIST) return errno;
        buffer[i] = saved;
    }
    return 0;
}

int kiln_agent_spawn(char *const argv[], char *const envp[], const char *cwd,
                     uint32_t uid, uint32_t gid, int stdin_fd, int stdout_fd, int stderr_fd,
                     pid_t *pid_out) {
    return kiln_agent_spawn_with(argv, envp, cwd, uid, gid, stdin_fd, stdout_fd, stderr_fd, NULL, pid_out);
}

int kiln_agent_spawn_with(char *const argv[], char *const envp[], const char *cwd,
                          uint32_t uid, uint32_t gid, int stdin_fd, int stdout_fd, int stderr_fd,
                          const struct kiln_agent_spawn_extras *extras, pid_t *pid_out) {
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
        if (rp <= 2) { rp = fcntl(report[1], F_DUPFD_CLOEXEC, 3); if (rp < 0) kiln_exec_report_and_exit(report[1], errno); }
        int in = stdin_fd, out = stdout_fd, err = stderr_fd;
        // Any source that sits on a lower standard slot is copied up first.
        if (in >= 0 && in <= 2 && in != 0) in = fcntl(in, F_DUPFD_CLOEXEC, 3);
        if (out >= 0 && out <= 2 && out != 1) out = fcntl(out, F_DUPFD_CLOEXEC, 3);
        if (err >= 0 && err <= 2 && err != 2) err = fcntl(err, F_DUPFD_CLOEXEC, 3);
        if (in < 0 || out < 0 || err < 0) kiln_exec_report_and_exit(rp, errno ? errno : EBADF);
        if (move_fd(in, 0) < 0 || move_fd(out, 1) < 0 || move_fd(err, 2) < 0) kiln_exec_report_and_exit(rp, errno);
        // Everything else is closed except the report pipe (close-on-exec).
        if (rp > 3) syscall(SYS_close_range, 3, rp - 1, 0);
        syscall(SYS_close_range, rp + 1, ~0U, 0);
        if (extras) {
            for (size_t i = 0; i < extras->limit_count; i++) {
                struct rlimit limit = { extras->limits[i].soft, extras->limits[i].hard };
                if (setrlimit((int)extras->limits[i].resource, &limit) < 0) kiln_exec_report_and_exit(rp, errno);
            }
            if (extras->make_cwd && cwd && chdir(cwd) < 0) {
                if (errno != ENOENT) kiln_exec_report_and_exit(rp, errno);
                int made = make_directories(cwd);
                if (made != 0) kiln_exec_report_and_exit(rp, made);
            }
        }
        if (gid != UINT32_MAX) {
            size_t count = extras ? extras->group_count : 0;
            const gid_t *list = count ? (const gid_t *)extras->groups : NULL;
            if (setgroups(count, list) < 0 && (count > 0 || errno != EPERM)) kiln_exec_report_and_exit(rp, errno);
            if (setgid(gid) < 0) kiln_exec_report_and_exit(rp, errno);
        }
        if (uid != UINT32_MAX && setuid(uid) < 0) kiln_exec_report_and_exit(rp, errno);
        if (cwd && chdir(cwd) < 0) kiln_exec_report_and_exit(rp, errno);
        kiln_exec_report_and_exit(rp, exec_searching(argv, envp));
    }
    return kiln_exec_await_report(report, pid, pid_out);
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

int kiln_agent_vsock_announce(uint32_t port) {
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct timeval limit = {1, 0};
    setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &limit, sizeof limit);
    struct sockaddr_vm addr;
    memset(&addr, 0, sizeof addr);
    addr.svm_family = AF_VSOCK;
    addr.svm_cid = VMADDR_CID_HOST;
    addr.svm_port = port;
    int result = connect(fd, (struct sockaddr *)&addr, sizeof addr);
    int err = errno;
    close(fd);
    errno = err;
    return result < 0 ? -1 : 0;
}

static void set_ipv4(struct sockaddr *target, uint32_t address) {
    struct sockaddr_in in;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(address);
    memcpy(target, &in, sizeof in);
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


int kiln_agent_power_off(void) {
    sync();
    return reboot(RB_POWER_OFF);
}

int kiln_agent_exit_code(int status) { return WEXITSTATUS(status); }
int kiln_agent_signaled(int status) { return WIFSIGNALED(status); }
int kiln_agent_term_signal(int status) { return WTERMSIG(status); }

int kiln_agent_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

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


void kiln_agent_thread_sigpipe(int block) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    if (block) { pthread_sigmask(SIG_BLOCK, &set, NULL); return; }
    struct timespec zero = {0, 0};
    while (sigtimedwait(&set, NULL, &zero) == SIGPIPE) {}
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

