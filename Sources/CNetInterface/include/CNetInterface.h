// Network interface ioctls shared by the guest agent (eth0, lo) and the host (`kiln run --net`'s
// kilntap<k>): the ifreq layouts and SIOC* requests are not importable into Swift.
#ifndef CNET_INTERFACE_H
#define CNET_INTERFACE_H

#include <stdint.h>

// Sets IFF_UP and IFF_RUNNING on the named interface (SIOCGIFFLAGS/SIOCSIFFLAGS). 0 or -1 and errno.
int kiln_interface_up(const char *name);

// Gives the named interface an IPv4 address and netmask (host byte order) and sets IFF_UP
// (SIOCSIFADDR, SIOCSIFNETMASK, SIOCSIFFLAGS). 0 or -1 and errno; *failed names the step that
// failed.
int kiln_interface_set_ipv4(const char *name, uint32_t address, uint32_t netmask, const char **failed);

#endif
