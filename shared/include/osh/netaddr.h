/*
 * netaddr.h - IP addresses, CIDRs and the SSRF address classes of
 * policy.md §2.7 / §1.7.  Pure functions, no allocation except
 * osh_allowed_ips_parse(), any thread.
 */
#ifndef OSH_NETADDR_H
#define OSH_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct osh_ip {
    int family;        /* AF_INET or AF_INET6 */
    uint8_t addr[16];  /* network order; IPv4 uses the first 4 bytes */
};

struct osh_cidr {
    struct osh_ip ip; /* host bits cleared */
    unsigned prefix;  /* 0..32 or 0..128 */
};

/* Parses an IPv4 or IPv6 literal (no brackets, no zone).  0 or -EINVAL. */
int osh_ip_parse(const char *s, struct osh_ip *out);

/* Formats like inet_ntop (IPv6 compressed).  0 or -ENOSPC. */
int osh_ip_format(const struct osh_ip *ip, char *buf, size_t len);

/* "a.b.c.d/n", "v6/n" or a bare IP (/32, /128).  0 or -EINVAL. */
int osh_cidr_parse(const char *s, struct osh_cidr *out);

/* Whether `ip` lies in `c`.  An IPv4-mapped IPv6 address (::ffff:a.b.c.d)
 * is compared as its IPv4 address against IPv4 CIDRs, and vice versa. */
bool osh_cidr_contains(const struct osh_cidr *c, const struct osh_ip *ip);

/* 127/8, 169.254/16, 0.0.0.0; ::1, ::, fe80::/10, and ::ffff: mapped forms. */
bool osh_ip_is_always_blocked(const struct osh_ip *ip);

/* Always-blocked plus the internal ranges of policy.md §2.7. */
bool osh_ip_is_internal(const struct osh_ip *ip);

/* 2379 2380 6443 10250 10255. */
bool osh_port_is_control_plane(uint16_t port);

/*
 * Parses an allowed_ips list (policy.md §1.7).  On success returns 0 and a
 * malloc'd array in *out (caller frees) of *nout CIDRs; *broad is set when an
 * entry's prefix is shorter than /16 (a warning upstream).  On failure returns
 * -EINVAL and writes into `err` every entry's error joined with "; ", e.g.
 *   "invalid CIDR/IP in allowed_ips: foo; allowed_ips entry 127.0.0.1 falls
 *    within always-blocked range (loopback/link-local/unspecified); remove
 *    this entry — SSRF hardening prevents traffic to these destinations
 *    regardless of policy"
 * or -ENOMEM.
 */
int osh_allowed_ips_parse(const char *const *entries, size_t n, struct osh_cidr **out,
                          size_t *nout, bool *broad, char *err, size_t errlen);

#endif /* OSH_NETADDR_H */
