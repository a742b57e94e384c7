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
#include <sched.h>
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

// What the child of kiln_agent_spawn_with works from. It shares the agent's memory until it
// execs, so `error` is how it says why it could not.
struct spawn_request {
    char *const *argv;
    char *const *envp;
    const char *cwd;
    uint32_t uid, gid;
    int stdin_fd, stdout_fd, stderr_fd;
    const struct kiln_agent_spawn_extras *extras;
    volatile int error;
};

static _Noreturn void spawn_fail(struct spawn_request *request, int err) {
    request->error = err ? err : EIO;
    _exit(127);
}

// The child, on a stack of its own in the agent's memory, with every signal blocked: only
// system calls, no allocation, and no glibc call that acts on the agent's threads (glibc's
// setuid, setgid and setgroups signal every thread of the process to change them all:
// here the process is the child alone, so the raw system calls are the right ones).
static int spawn_child(void *opaque) {
    struct spawn_request *request = opaque;
    // Handlers first, while signals are still blocked: one that ran now would run the agent's
    // code on the agent's memory.
    for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setsid();
    int in = request->stdin_fd, out = request->stdout_fd, err = request->stderr_fd;
    // Any source that sits on a lower standard slot is copied up first.
    if (in >= 0 && in <= 2 && in != 0) in = fcntl(in, F_DUPFD_CLOEXEC, 3);
    if (out >= 0 && out <= 2 && out != 1) out = fcntl(out, F_DUPFD_CLOEXEC, 3);
    if (err >= 0 && err <= 2 && err != 2) err = fcntl(err, F_DUPFD_CLOEXEC, 3);
    if (in < 0 || out < 0 || err < 0) spawn_fail(request, errno ? errno : EBADF);
    if (move_fd(in, 0) < 0 || move_fd(out, 1) < 0 || move_fd(err, 2) < 0) spawn_fail(request, errno);
    syscall(SYS_close_range, 3, ~0U, 0);
    const struct kiln_agent_spawn_extras *extras = request->extras;
    if (extras) {
        for (size_t i = 0; i < extras->limit_count; i++) {
            struct rlimit limit = { extras->limits[i].soft, extras->limits[i].hard };
            if (setrlimit((int)extras->limits[i].resource, &limit) < 0) spawn_fail(request, errno);
        }
        if (extras->make_cwd && request->cwd && chdir(request->cwd) < 0) {
            if (errno != ENOENT) spawn_fail(request, errno);
            int made = make_directories(request->cwd);
            if (made != 0) spawn_fail(request, made);
        }
    }
    if (request->gid != UINT32_MAX) {
        size_t count = extras ? extras->group_count : 0;
        const gid_t *list = count ? (const gid_t *)extras->groups : NULL;
        if (syscall(SYS_setgroups, count, list) < 0 && (count > 0 || errno != EPERM)) spawn_fail(request, errno);
        if (syscall(SYS_setgid, request->gid) < 0) spawn_fail(request, errno);
    }
    if (request->uid != UINT32_MAX && syscall(SYS_setuid, request->uid) < 0) spawn_fail(request, errno);
    if (request->cwd && chdir(request->cwd) < 0) spawn_fail(request, errno);
    spawn_fail(request, exec_searching(request->argv, request->envp));
}

// The child's stack: exec_searching and make_directories hold a PATH_MAX buffer each.
#define SPAWN_STACK_SIZE (128 * 1024)

// clone(CLONE_VM | CLONE_VFORK) rather than fork: the agent (a static binary with several
// threads) is not copied, page table by page table, for a child that execs at once, and
// neither process then takes a copy-on-write fault for each page it writes; this thread waits
// until the child has exec'd or exited (as posix_spawn does).
int kiln_agent_spawn_with(char *const argv[], char *const envp[], const char *cwd,
                          uint32_t uid, uint32_t gid, int stdin_fd, int stdout_fd, int stderr_fd,
                          const struct kiln_agent_spawn_extras *extras, pid_t *pid_out) {
    if (!argv || !argv[0]) return EINVAL;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *stack = mmap(NULL, SPAWN_STACK_SIZE + page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return errno;
    // A guard page below the stack: an overflow faults rather than writes the agent's memory.
    if (mprotect(stack, page, PROT_NONE) < 0) { int err = errno; munmap(stack, SPAWN_STACK_SIZE + page); return err; }
    struct spawn_request request = {
        .argv = argv, .envp = envp, .cwd = cwd, .uid = uid, .gid = gid,
        .stdin_fd = stdin_fd, .stdout_fd = stdout_fd, .stderr_fd = stderr_fd, .extras = extras, .error = 0,
    };
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    pid_t pid = clone(spawn_child, stack + page + SPAWN_STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD, &request);
    int clone_error = errno;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    munmap(stack, SPAWN_STACK_SIZE + page);
    if (pid < 0) return clone_error;
    if (request.error != 0) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        return request.error;
    }
    *pid_out = pid;
    return 0;
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

