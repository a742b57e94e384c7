#define _GNU_SOURCE
#include "AgentPeer.h"

#include <string.h>
#include <sys/socket.h>
#include <linux/vm_sockets.h>

int kiln_agent_accept_peer(int listener, uint32_t *peer_cid) {
    struct sockaddr_storage address;
    socklen_t length = sizeof(address);
    memset(&address, 0, sizeof(address));
    int fd = accept4(listener, (struct sockaddr *)&address, &length, SOCK_CLOEXEC);
    if (fd < 0) return -1;
    const struct sockaddr_vm *vm = (const struct sockaddr_vm *)&address;
    *peer_cid = (address.ss_family == AF_VSOCK && length >= sizeof(*vm)) ? vm->svm_cid : UINT32_MAX;
    return fd;
}

uint32_t kiln_agent_host_cid(void) { return VMADDR_CID_HOST; }
