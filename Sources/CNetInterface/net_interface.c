#include "CNetInterface.h"

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int kiln_interface_up(const char *name) {
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
