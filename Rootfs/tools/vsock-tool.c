// vsock-tool: both ends of Kiln's vsock end-to-end tests and benchmark, one static binary.
//
// Guest side (AF_VSOCK):
//   vsock-tool listen PORT            accept one connection, copy it to stdout until EOF
//   vsock-tool echo PORT              accept one connection, echo it back until EOF
//   vsock-tool sink PORT              accept one connection, discard it until EOF, print the
//                                     bench line (accept to EOF)
//   vsock-tool connect CID PORT       stdin -> connection (then shutdown), connection -> stdout
//   vsock-tool source CID PORT BYTES  send BYTES zero bytes, shutdown, wait for EOF, print the
//                                     bench line (connected to EOF)
// (These also run on a host with vhost-vsock: QEMU's baseline in vsockbench.)
// Host side (the VMM's Unix sockets, Firecracker's hybrid vsock):
//   vsock-tool uds-connect PATH PORT [BYTES]
//        connect to PATH, send "CONNECT PORT\n", wait for "OK <n>\n" (retrying for 60 s while
//        the guest is not listening yet); then as `connect` (stdin), or send BYTES zero bytes
//        and print "KILN-VSOCK-BENCH bytes=N seconds=S" from OK to the guest's EOF
//   vsock-tool uds-listen PATH [echo|sink]
//        listen on PATH (a guest connection to port P arrives on <uds_path>_P), accept one;
//        copy to stdout, echo back, or discard and print the bench line (accept to EOF)
// Baseline:
//   vsock-tool unix-pair BYTES        a Unix stream socketpair, a child writing BYTES, the parent
//                                     reading them: prints the bench line
// TCP (netbench's guest side: busybox nc writes in small pieces, which with Nagle's algorithm
// and delayed ACKs measured ~0.3 MB/s whatever the VMM):
//   vsock-tool tcp-sink PORT          accept one IPv4 connection, discard it until EOF, bench line
//   vsock-tool tcp-source IP PORT BYTES
//                                     send BYTES zero bytes, shutdown, wait for EOF, bench line
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/vm_sockets.h>

#define CHUNK (256 * 1024)
static char buffer[CHUNK];

static void die(const char *what) { fprintf(stderr, "vsock-tool: %s: %s\n", what, strerror(errno)); exit(1); }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static void write_all(int fd, const char *data, size_t count) {
    while (count > 0) {
        ssize_t n = write(fd, data, count);
        if (n < 0) { if (errno == EINTR) continue; die("write"); }
        data += n; count -= (size_t)n;
    }
}

// Copies `from` to `to` (to < 0: discard) until EOF; the byte count.
static uint64_t copy(int from, int to) {
    uint64_t total = 0;
    for (;;) {
        ssize_t n = read(from, buffer, sizeof buffer);
        if (n < 0) { if (errno == EINTR) continue; die("read"); }
        if (n == 0) return total;
        if (to >= 0) write_all(to, buffer, (size_t)n);
        total += (uint64_t)n;
    }
}

// stdin -> sock (then SHUT_WR) and sock -> stdout, both until EOF.
static void relay(int sock) {
    struct pollfd fds[2] = { { .fd = 0, .events = POLLIN }, { .fd = sock, .events = POLLIN } };
    int input_open = 1;
    for (;;) {
        fds[0].fd = input_open ? 0 : -1;
        if (poll(fds, 2, -1) < 0) { if (errno == EINTR) continue; die("poll"); }
        if (input_open && fds[0].revents) {
            ssize_t n = read(0, buffer, sizeof buffer);
            if (n < 0 && errno != EINTR) die("read stdin");
            if (n == 0) { input_open = 0; shutdown(sock, SHUT_WR); }
            if (n > 0) write_all(sock, buffer, (size_t)n);
        }
        if (fds[1].revents) {
            ssize_t n = read(sock, buffer, sizeof buffer);
            if (n < 0 && errno != EINTR) die("read socket");
            if (n == 0) return;
            if (n > 0) write_all(1, buffer, (size_t)n);
        }
    }
}

static void send_zeros(int sock, uint64_t bytes) {
    memset(buffer, 0, sizeof buffer);
    while (bytes > 0) {
        size_t n = bytes < sizeof buffer ? (size_t)bytes : sizeof buffer;
        write_all(sock, buffer, n);
        bytes -= n;
    }
    shutdown(sock, SHUT_WR);
}

static void bench_line(uint64_t bytes, double seconds) {
    printf("KILN-VSOCK-BENCH bytes=%llu seconds=%.6f MBps=%.2f\n", (unsigned long long)bytes, seconds,
           seconds > 0 ? bytes / seconds / 1e6 : 0.0);
    fflush(stdout);
}

// Binds `listener` to `address`, listens, says so on stderr when `label` is set, and returns the
// one connection it accepts (the listener is closed).
// Discards `sock` until EOF and prints the bench line (from now to EOF).
static void bench_sink(int sock) {
    double start = now();
    uint64_t bytes = copy(sock, -1);
    bench_line(bytes, now() - start);
}

// Sends `bytes` zero bytes, shuts down, waits for the peer's EOF, prints the bench line.
static void bench_source(int sock, uint64_t bytes) {
    double start = now();
    send_zeros(sock, bytes);
    copy(sock, -1);  // the peer closes once it has read everything
    bench_line(bytes, now() - start);
}

static int accept_one(int listener, const void *address, socklen_t length, const char *label, unsigned port) {
    if (bind(listener, (const struct sockaddr *)address, length) < 0) die("bind");
    if (listen(listener, 4) < 0) die("listen");
    if (label) fprintf(stderr, "%s port=%u\n", label, port);
    int sock = accept(listener, NULL, NULL);
    if (sock < 0) die("accept");
    close(listener);
    return sock;
}

static int vsock_accept(unsigned port) {
    int listener = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (listener < 0) die("socket(AF_VSOCK)");
    struct sockaddr_vm address = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port };
    return accept_one(listener, &address, sizeof address, "KILN-VSOCK-LISTENING", port);
}

static int vsock_connect(unsigned cid, unsigned port) {
    int sock = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (sock < 0) die("socket(AF_VSOCK)");
    struct sockaddr_vm address = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
    if (connect(sock, (struct sockaddr *)&address, sizeof address) < 0) die("connect vsock");
    return sock;
}

static struct sockaddr_un unix_address(const char *path) {
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof address.sun_path) { errno = ENAMETOOLONG; die(path); }
    strcpy(address.sun_path, path);
    return address;
}

// Connects through the VMM's uds_path and completes the CONNECT/OK handshake, retrying while
// the socket does not exist yet or the guest refuses (closes) because it is not listening yet.
static int uds_connect(const char *path, unsigned port) {
    double deadline = now() + 60;
    struct sockaddr_un address = unix_address(path);
    for (;;) {
        int sock = socket(AF_UNIX, SOCK_STREAM, 0);
        if (sock < 0) die("socket(AF_UNIX)");
        if (connect(sock, (struct sockaddr *)&address, sizeof address) == 0) {
            char line[64];
            int length = snprintf(line, sizeof line, "CONNECT %u\n", port);
            write_all(sock, line, (size_t)length);
            size_t got = 0;
            // Byte by byte: nothing of the stream after the OK line is consumed here.
            while (got < sizeof line - 1) {
                ssize_t n = read(sock, line + got, 1);
                if (n <= 0) break;
                if (line[got++] == '\n') break;
            }
            line[got] = 0;
            if (got > 3 && strncmp(line, "OK ", 3) == 0 && line[got - 1] == '\n') return sock;
        }
        close(sock);
        if (now() > deadline) { fprintf(stderr, "vsock-tool: no OK from %s port %u within 60 s\n", path, port); exit(1); }
        usleep(100 * 1000);
    }
}

static int uds_accept(const char *path) {
    int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    if (listener < 0) die("socket(AF_UNIX)");
    struct sockaddr_un address = unix_address(path);
    unlink(path);
    int sock = accept_one(listener, &address, sizeof address, NULL, 0);
    unlink(path);
    return sock;
}

static int tcp_accept(unsigned port) {
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) die("socket(AF_INET)");
    int on = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                   .sin_addr.s_addr = htonl(INADDR_ANY) };
    return accept_one(listener, &address, sizeof address, "KILN-TCP-LISTENING", port);
}

static int tcp_connect(const char *ip, unsigned port) {
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (inet_pton(AF_INET, ip, &address.sin_addr) != 1) { errno = EINVAL; die(ip); }
    int sock = socket(AF_INET, SOCK_STREAM, 0);
    if (sock < 0) die("socket(AF_INET)");
    if (connect(sock, (struct sockaddr *)&address, sizeof address) < 0) die("connect tcp");
    return sock;
}

static void usage(void) {
    fprintf(stderr, "usage: vsock-tool listen|echo|sink PORT | connect CID PORT | source CID PORT BYTES |\n"
                    "       uds-connect PATH PORT [BYTES] | uds-listen PATH [echo|sink] | unix-pair BYTES |\n"
                    "       tcp-sink PORT | tcp-source IP PORT BYTES\n");
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 3) usage();
    const char *mode = argv[1];
    signal(SIGPIPE, SIG_IGN);
    if (!strcmp(mode, "listen") || !strcmp(mode, "echo") || !strcmp(mode, "sink")) {
        int sock = vsock_accept((unsigned)strtoul(argv[2], NULL, 10));
        if (!strcmp(mode, "listen")) copy(sock, 1);
        else if (!strcmp(mode, "sink")) bench_sink(sock);
        else {
            for (;;) {
                ssize_t n = read(sock, buffer, sizeof buffer);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) break;
                write_all(sock, buffer, (size_t)n);
            }
        }
        close(sock);
    } else if (!strcmp(mode, "connect") && argc == 4) {
        int sock = vsock_connect((unsigned)strtoul(argv[2], NULL, 10), (unsigned)strtoul(argv[3], NULL, 10));
        relay(sock);
        close(sock);
    } else if (!strcmp(mode, "source") && argc == 5) {
        int sock = vsock_connect((unsigned)strtoul(argv[2], NULL, 10), (unsigned)strtoul(argv[3], NULL, 10));
        bench_source(sock, strtoull(argv[4], NULL, 10));
        close(sock);
    } else if (!strcmp(mode, "uds-connect") && (argc == 4 || argc == 5)) {
        int sock = uds_connect(argv[2], (unsigned)strtoul(argv[3], NULL, 10));
        if (argc == 4) relay(sock);
        else bench_source(sock, strtoull(argv[4], NULL, 10));
        close(sock);
    } else if (!strcmp(mode, "uds-listen") && (argc == 3 || argc == 4)) {
        int sock = uds_accept(argv[2]);
        if (argc == 3) copy(sock, 1);
        else if (!strcmp(argv[3], "echo")) {
            for (;;) {
                ssize_t n = read(sock, buffer, sizeof buffer);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) break;
                write_all(sock, buffer, (size_t)n);
            }
        } else {
            bench_sink(sock);
        }
        close(sock);
    } else if (!strcmp(mode, "tcp-sink") && argc == 3) {
        int sock = tcp_accept((unsigned)strtoul(argv[2], NULL, 10));
        bench_sink(sock);
        close(sock);
    } else if (!strcmp(mode, "tcp-source") && argc == 5) {
        int sock = tcp_connect(argv[2], (unsigned)strtoul(argv[3], NULL, 10));
        bench_source(sock, strtoull(argv[4], NULL, 10));
        close(sock);
    } else if (!strcmp(mode, "unix-pair")) {
        uint64_t bytes = strtoull(argv[2], NULL, 10);
        int pair[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) < 0) die("socketpair");
        double start = now();
        pid_t child = fork();
        if (child < 0) die("fork");
        if (child == 0) { close(pair[0]); send_zeros(pair[1], bytes); _exit(0); }
        close(pair[1]);
        uint64_t got = copy(pair[0], -1);
        double seconds = now() - start;
        waitpid(child, NULL, 0);
        bench_line(got, seconds);
    } else {
        usage();
    }
    return 0;
}
