/* Addresses: "HOST:PORT" for listening and connecting alike. */
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

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

int lr_rpc_listen_addr(const char *addr, struct sockaddr_storage *ss, unsigned *len, lr_err *err) {
    char host[256], port[32];
    int rc = lr_rpc_split_addr(addr, host, sizeof host, port, sizeof port, err);
    if (rc) return rc;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    if ((rc = getaddrinfo(host, port, &hints, &res)))
        return lr_err_set(err, LR_EINVAL, "cannot resolve '%s': %s", addr, gai_strerror(rc));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = (unsigned)res->ai_addrlen;
    freeaddrinfo(res);
    return LR_OK;
}

/* Resolved as the server will bind it, so "0", "0.0.0.0", "::" and "[::]" all count. */
int lr_rpc_addr_is_wildcard(const char *addr, int *wildcard, lr_err *err) {
    struct sockaddr_storage ss;
    unsigned len;
    *wildcard = 0;
    int rc = lr_rpc_listen_addr(addr, &ss, &len, err);
    if (rc) return rc;
    if (ss.ss_family == AF_INET)
        *wildcard = ((const struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY);
    else if (ss.ss_family == AF_INET6)
        *wildcard = IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&ss)->sin6_addr);
    return LR_OK;
}
