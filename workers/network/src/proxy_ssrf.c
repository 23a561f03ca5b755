/*
 * proxy_ssrf.c - where an allowed request may actually go (network.md §3,
 * policy.md §2.7): resolve the host (IP literal, then the sandbox's
 * /etc/hosts, then DNS), then hold EVERY resolved address to the first tier
 * that applies: trusted host gateway, allowed_ips, exact declared endpoint,
 * or the default "no internal addresses".  The vetted addresses are what
 * the proxy dials, so a name cannot resolve to one thing here and another
 * at connect time.
 *
 * Runs on a decision-pool thread when DNS is involved (getaddrinfo blocks).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "osh/netaddr.h"
#include "proxy_int.h"

#define SSRF_MAX_RESOLVED 32

struct resolved {
    struct osh_ip ip[SSRF_MAX_RESOLVED];
    int n;
};

static bool
ip_seen(const struct resolved *r, const struct osh_ip *ip)
{
    for (int i = 0; i < r->n; i++)
        if (r->ip[i].family == ip->family && memcmp(r->ip[i].addr, ip->addr, 16) == 0)
            return true;
    return false;
}

static void
add_ip(struct resolved *r, const struct osh_ip *ip)
{
    if (r->n < SSRF_MAX_RESOLVED && !ip_seen(r, ip))
        r->ip[r->n++] = *ip;
}

/* The sandbox's own hosts file: exact alias match, file order. */
static void
resolve_sandbox_hosts(pid_t entrypoint, const char *host, struct resolved *r)
{
    char path[64], line[1024];
    FILE *f;

    if (entrypoint <= 0)
        return;
    snprintf(path, sizeof(path), "/proc/%d/root/etc/hosts", (int)entrypoint);
    f = fopen(path, "re");
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        char *save = NULL, *tok, *hash = strchr(line, '#');
        struct osh_ip ip;
        if (hash)
            *hash = '\0';
        tok = strtok_r(line, " \t\r\n", &save);
        if (tok == NULL || osh_ip_parse(tok, &ip) < 0)
            continue;
        while ((tok = strtok_r(NULL, " \t\r\n", &save)) != NULL)
            if (strcasecmp(tok, host) == 0)
                add_ip(r, &ip);
    }
    fclose(f);
}

static int
resolve(pid_t entrypoint, const char *host, uint16_t port, struct resolved *r, char *err,
        size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    struct osh_ip ip;
    int rc;

    r->n = 0;
    if (osh_ip_parse(host, &ip) == 0) {
        add_ip(r, &ip);
        return 0;
    }
    resolve_sandbox_hosts(entrypoint, host, r);
    if (r->n > 0)
        return 0;
    rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "DNS resolution failed for %s:%u: %s", host, port,
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return -EHOSTUNREACH;
    }
    for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
        memset(&ip, 0, sizeof(ip));
        if (a->ai_family == AF_INET) {
            ip.family = AF_INET;
            memcpy(ip.addr, &((struct sockaddr_in *)a->ai_addr)->sin_addr, 4);
        } else if (a->ai_family == AF_INET6) {
            ip.family = AF_INET6;
            memcpy(ip.addr, &((struct sockaddr_in6 *)a->ai_addr)->sin6_addr, 16);
        } else {
            continue;
        }
        add_ip(r, &ip);
    }
    freeaddrinfo(res);
    if (r->n == 0) {
        snprintf(err, errlen, "DNS resolution returned no addresses for %s:%u", host, port);
        return -EHOSTUNREACH;
    }
    return 0;
}

static bool
is_metadata(const struct osh_ip *ip)
{
    static const uint8_t meta[4] = {169, 254, 169, 254};
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (ip->family == AF_INET)
        return memcmp(ip->addr, meta, 4) == 0;
    return memcmp(ip->addr, mapped, 12) == 0 && memcmp(ip->addr + 12, meta, 4) == 0;
}

static bool
is_link_local(const struct osh_ip *ip)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (ip->family == AF_INET)
        return ip->addr[0] == 169 && ip->addr[1] == 254;
    if (memcmp(ip->addr, mapped, 12) == 0)
        return ip->addr[12] == 169 && ip->addr[13] == 254;
    return ip->addr[0] == 0xfe && (ip->addr[1] & 0xc0) == 0x80;
}

static bool
is_gateway_alias(const char *h)
{
    return strcasecmp(h, "host.openshell.internal") == 0 ||
           strcasecmp(h, "host.containers.internal") == 0 ||
           strcasecmp(h, "host.docker.internal") == 0;
}

static void
deny(struct decision *d, bool connect, const char *method, const char *host_lc, uint16_t port,
     const char *why, const char *reason)
{
    d->allow = false;
    d->stage = OSH_STAGE_SSRF;
    d->group = OSH_DENY_GROUP_SSRF;
    d->status = 403;
    snprintf(d->error, sizeof(d->error), "ssrf_denied");
    snprintf(d->detail, sizeof(d->detail), "%s %s:%u blocked: %s", connect ? "CONNECT" : method,
             host_lc, port, why);
    free(d->reason);
    d->reason = strdup(reason);
}

static void
fill_addrs(struct decision *d, const struct resolved *r, uint16_t port)
{
    d->n_addrs = 0;
    for (int i = 0; i < r->n && d->n_addrs < PROXY_MAX_ADDRS; i++) {
        struct sockaddr_storage *ss = &d->addrs[d->n_addrs++];
        memset(ss, 0, sizeof(*ss));
        if (r->ip[i].family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)ss;
            a->sin_family = AF_INET;
            a->sin_port = htons(port);
            memcpy(&a->sin_addr, r->ip[i].addr, 4);
        } else {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
            a->sin6_family = AF_INET6;
            a->sin6_port = htons(port);
            memcpy(&a->sin6_addr, r->ip[i].addr, 16);
        }
    }
}

int
ssrf_check(struct proxy *px, const char *host, const char *host_lc, uint16_t port,
           const struct osh_decision_result *res, struct decision *d, bool connect,
           const char *method, pid_t entrypoint)
{
    char bare[256], reason[600], ipbuf[64];
    struct resolved r;
    size_t hl = strlen(host);
    struct osh_ip lit;
    struct osh_cidr *nets = NULL;
    size_t n_nets = 0;
    bool broad;
    const char *const *allowed = res->allowed_ips;
    size_t n_allowed = res->n_allowed_ips;
    const char *implicit[1];
    int rc = 0;

    (void)px;
    /* Brackets of an IPv6 literal are not part of the address. */
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']' && hl - 2 < sizeof(bare)) {
        memcpy(bare, host + 1, hl - 2);
        bare[hl - 2] = '\0';
    } else {
        snprintf(bare, sizeof(bare), "%s", host);
    }

    /* Tier 1: the trusted host gateway. */
    if (is_gateway_alias(bare) && px->trusted_gateway.ss_family == AF_INET) {
        const struct sockaddr_in *gw = (const struct sockaddr_in *)&px->trusted_gateway;
        if (osh_port_is_control_plane(port)) {
            snprintf(reason, sizeof(reason),
                     "port %u is a blocked control-plane port, connection rejected", port);
            deny(d, connect, method, host_lc, port, "trusted-gateway check failed", reason);
            return 0;
        }
        if (resolve(entrypoint, bare, port, &r, reason, sizeof(reason)) < 0) {
            deny(d, connect, method, host_lc, port, "trusted-gateway check failed", reason);
            return 0;
        }
        for (int i = 0; i < r.n; i++) {
            osh_ip_format(&r.ip[i], ipbuf, sizeof(ipbuf));
            if (is_metadata(&r.ip[i]) || r.ip[i].family != AF_INET ||
                memcmp(r.ip[i].addr, &gw->sin_addr, 4) != 0 || !is_link_local(&r.ip[i])) {
                snprintf(reason, sizeof(reason),
                         "%s resolves to %s which does not match trusted host gateway, "
                         "connection rejected",
                         host_lc, ipbuf);
                deny(d, connect, method, host_lc, port, "trusted-gateway check failed", reason);
                return 0;
            }
        }
        fill_addrs(d, &r, port);
        return 0;
    }

    /* Tier 2: allowed_ips, or an IP-literal host that is not always-blocked
     * (it is its own implicit allowed_ips). */
    if (n_allowed == 0 && osh_ip_parse(bare, &lit) == 0 && !osh_ip_is_always_blocked(&lit)) {
        implicit[0] = bare;
        allowed = implicit;
        n_allowed = 1;
    }
    if (n_allowed > 0) {
        rc = osh_allowed_ips_parse(allowed, n_allowed, &nets, &n_nets, &broad, reason,
                                   sizeof(reason));
        if (rc == -ENOMEM)
            return rc;
        if (rc < 0) {
            deny(d, connect, method, host_lc, port, "invalid allowed_ips in policy", reason);
            return 0;
        }
        if (osh_port_is_control_plane(port)) {
            snprintf(reason, sizeof(reason),
                     "port %u is a blocked control-plane port, connection rejected", port);
            deny(d, connect, method, host_lc, port, "allowed_ips check failed", reason);
            goto out;
        }
        if (resolve(entrypoint, bare, port, &r, reason, sizeof(reason)) < 0) {
            deny(d, connect, method, host_lc, port, "allowed_ips check failed", reason);
            goto out;
        }
        for (int i = 0; i < r.n; i++) {
            bool inside = false;
            osh_ip_format(&r.ip[i], ipbuf, sizeof(ipbuf));
            if (osh_ip_is_always_blocked(&r.ip[i])) {
                snprintf(reason, sizeof(reason),
                         "%s resolves to always-blocked address %s, connection rejected",
                         host_lc, ipbuf);
                deny(d, connect, method, host_lc, port, "allowed_ips check failed", reason);
                goto out;
            }
            for (size_t k = 0; k < n_nets && !inside; k++)
                inside = osh_cidr_contains(&nets[k], &r.ip[i]);
            if (!inside) {
                snprintf(reason, sizeof(reason),
                         "%s resolves to %s which is not in allowed_ips, connection rejected",
                         host_lc, ipbuf);
                deny(d, connect, method, host_lc, port, "allowed_ips check failed", reason);
                goto out;
            }
        }
        fill_addrs(d, &r, port);
        goto out;
    }

    /* Tier 3: a host the user declared exactly may be private. */
    if (res->exact_declared_host) {
        if (osh_port_is_control_plane(port)) {
            snprintf(reason, sizeof(reason),
                     "port %u is a blocked control-plane port, connection rejected", port);
            deny(d, connect, method, host_lc, port, "declared endpoint check failed", reason);
            return 0;
        }
        if (resolve(entrypoint, bare, port, &r, reason, sizeof(reason)) < 0) {
            deny(d, connect, method, host_lc, port, "declared endpoint check failed", reason);
            return 0;
        }
        for (int i = 0; i < r.n; i++) {
            if (osh_ip_is_always_blocked(&r.ip[i])) {
                osh_ip_format(&r.ip[i], ipbuf, sizeof(ipbuf));
                snprintf(reason, sizeof(reason),
                         "%s resolves to always-blocked address %s, connection rejected",
                         host_lc, ipbuf);
                deny(d, connect, method, host_lc, port, "declared endpoint check failed",
                     reason);
                return 0;
            }
        }
        fill_addrs(d, &r, port);
        return 0;
    }

    /* Tier 4: default, no internal address at all. */
    if (resolve(entrypoint, bare, port, &r, reason, sizeof(reason)) < 0) {
        deny(d, connect, method, host_lc, port, "internal address", reason);
        return 0;
    }
    for (int i = 0; i < r.n; i++) {
        if (osh_ip_is_internal(&r.ip[i])) {
            osh_ip_format(&r.ip[i], ipbuf, sizeof(ipbuf));
            snprintf(reason, sizeof(reason),
                     "%s resolves to internal address %s, connection rejected", host_lc, ipbuf);
            deny(d, connect, method, host_lc, port, "internal address", reason);
            return 0;
        }
    }
    fill_addrs(d, &r, port);
    return 0;
out:
    free(nets);
    return 0;
}
