// The static Swift runtime locates itself (and argv) through /proc/self/maps the first time it
// needs its own path; as PID 1 nothing has mounted /proc yet and the runtime stops with "Unable
// to obtain Swift runtime path". This constructor runs before any Swift code (priority 101,
// ahead of default constructors) and mounts /proc when the process is init.
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

__attribute__((constructor(101)))
static void kiln_agent_mount_proc_early(void) {
    if (getpid() != 1) return;
    mkdir("/proc", 0555);
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}
