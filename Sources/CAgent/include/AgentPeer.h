#ifndef KILN_AGENT_PEER_H
#define KILN_AGENT_PEER_H
#include <stdint.h>

// accept4(SOCK_CLOEXEC) that also reports the peer's vsock CID (UINT32_MAX when the listener
// is not AF_VSOCK, as a socketpair in the tests): the agent serves the host's CID only.
int kiln_agent_accept_peer(int listener, uint32_t *peer_cid);

// VMADDR_CID_HOST, the CID host-side connections arrive from (hybrid vsock and vhost-vsock).
uint32_t kiln_agent_host_cid(void);

#endif
