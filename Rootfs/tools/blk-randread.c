/* blk-randread: random 4 KiB O_DIRECT reads of a block device by several processes at once,
 * the guest side of the E2E blkbench "randread" workload (issue 16). The Debian images carry no
 * fio and the guest kernel has no AIO or io_uring, so "several jobs" are forked processes doing
 * blocking preads: as many requests in flight as jobs, like fio --ioengine=psync --numjobs=N.
 *
 * usage: blk-randread DEVICE JOBS READS_PER_JOB
 * Prints "blk-randread ops N errors E" and exits 0 only if every read returned 4096 bytes.
 * The caller times the run (the harness brackets it with /dev/kmsg records).
 * Offsets: a per-job xorshift64 over the device's whole 4 KiB blocks (with replacement, as
 * fio --norandommap), so both VMMs see the same sequence. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int job(const char *device, uint64_t blocks, long reads, uint64_t seed) {
    int fd = open(device, O_RDONLY | O_DIRECT);
    if (fd < 0) { perror("open"); return 1; }
    void *buffer;
    if (posix_memalign(&buffer, 4096, 4096) != 0) return 1;
    uint64_t x = seed;
    int errors = 0;
    for (long i = 0; i < reads; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        if (pread(fd, buffer, 4096, (off_t)(x % blocks) * 4096) != 4096) errors++;
    }
    return errors ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: %s DEVICE JOBS READS_PER_JOB\n", argv[0]); return 2; }
    int jobs = atoi(argv[2]);
    long reads = atol(argv[3]);
    int fd = open(argv[1], O_RDONLY);
    /* lseek sizes a block device as well as a file. */
    off_t end = fd < 0 ? -1 : lseek(fd, 0, SEEK_END);
    uint64_t bytes = end > 0 ? (uint64_t)end : 0;
    if (bytes < 4096 || jobs < 1 || reads < 1) {
        fprintf(stderr, "%s: cannot size %s or bad arguments\n", argv[0], argv[1]);
        return 2;
    }
    close(fd);
    for (int j = 0; j < jobs; j++) {
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 1; }
        if (pid == 0) _exit(job(argv[1], bytes / 4096, reads, 0x9E3779B97F4A7C15ull * (uint64_t)(j + 1)));
    }
    int failed = 0, status;
    while (wait(&status) > 0)
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed++;
    printf("blk-randread ops %ld errors %d\n", (long)jobs * reads, failed);
    return failed ? 1 : 0;
}
