#define _GNU_SOURCE
#include "CHost.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

int kiln_spawn_gate_open(int gate[2]) { return pipe2(gate, O_CLOEXEC); }

void kiln_spawn_gate_close(int gate[2]) {
    close(gate[0]);
    close(gate[1]);
}

void kiln_spawn_gate_wait(int gate[2]) {
    close(gate[1]);
    char go = 0;
    ssize_t got;
    do { got = read(gate[0], &go, 1); } while (got < 0 && errno == EINTR);
    close(gate[0]);
    // End of file: the parent died before it recorded this child (or refused it and reaps it
    // now). Nothing may run that no record names.
    if (got != 1) _exit(125);
}

int kiln_spawn_gate_release(int gate[2], pid_t pid, kiln_spawn_recorder record, void *context) {
    close(gate[0]);
    int err = record ? record(pid, context) : 0;
    if (err == 0) {
        char go = 1;
        ssize_t n;
        do { n = write(gate[1], &go, 1); } while (n < 0 && errno == EINTR);
        if (n != 1) err = n < 0 ? errno : EIO;
    }
    close(gate[1]);
    if (err != 0) {
        kill(pid, SIGKILL);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    }
    return err;
}
