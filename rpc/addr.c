/* Addresses: "HOST:PORT" for listening and connecting alike. */
#include <string.h>

#include "rpc_internal.h"

/* "HOST:PORT" or "[V6]:PORT" into host and port (split at the last colon). */
int lr_rpc_split_addr(const char *addr, char *host, size_t hcap, char *port, size_t pcap,
                      lr_err *err) {
    const char *colon = strrchr(addr, ':');
    const char *h = addr, *hend = colon;
    if (colon && addr[0] == '[' && colon > addr && colon[-1] == ']') h = addr + 1, hend = colon - 1;
    if (!colon || hend == h || !colon[1] || (size_t)(hend - h) >= hcap || strlen(colon + 1) >= pcap)
        return lr_err_set(err, LR_EINVAL, "bad address '%s': expected HOST:PORT", addr);
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = '\0';
    strcpy(port, colon + 1);
    return LR_OK;
}

