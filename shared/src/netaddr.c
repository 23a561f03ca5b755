/*
 * netaddr.c - IP addresses, CIDRs and the SSRF address classes of
 * policy.md §2.7 (runtime destination check) and §1.7 (allowed_ips).
 *
 * Address literals are parsed by libc's inet_pton/inet_ntop only: a second,
 * hand-written parser would be one more place for "0x7f.1" or "127.1" style
 * differentials.  The ranges are tables of CIDRs; an IPv4-mapped IPv6
 * address (::ffff:a.b.c.d) is always judged as the IPv4 address it maps to,
 * because that is where the kernel sends it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "osh/netaddr.h"

/* clang-format off */
#define V4(a, b, c, d, p) {{AF_INET, {a, b, c, d}}, p}
#define V6(b0, b1, p) {{AF_INET6, {b0, b1}}, p}
/* clang-format on */

/* §2.7: loopback, link-local, unspecified. */
static const struct osh_cidr v4_always_blocked[] = {
    V4(127, 0, 0, 0, 8),
    V4(169, 254, 0, 0, 16),
    V4(0, 0, 0, 0, 32),
};

/* §2.7: internal on top of always-blocked. */
static const struct osh_cidr v4_internal[] = {
    V4(10, 0, 0, 0, 8),         V4(172, 16, 0, 0, 12),  V4(192, 168, 0, 0, 16),
    V4(100, 64, 0, 0, 10),      V4(192, 0, 0, 0, 24),   V4(192, 0, 2, 0, 24),
    V4(198, 51, 100, 0, 24),    V4(203, 0, 113, 0, 24), V4(198, 18, 0, 0, 15),
    V4(255, 255, 255, 255, 32),
};

static const struct osh_cidr v6_always_blocked[] = {
    {{AF_INET6, {[15] = 1}}, 128}, /* ::1 */
    V6(0, 0, 128),                 /* :: */
    V6(0xfe, 0x80, 10),            /* fe80::/10 */
};

static const struct osh_cidr v6_internal[] = {
    V6(0xfc, 0x00, 7), /* fc00::/7 */
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char err_blocked_pre[] = "allowed_ips entry ";
static const char err_blocked_post[] =
    " falls within always-blocked range (loopback/link-local/unspecified); remove this "
    "entry — SSRF hardening prevents traffic to these destinations regardless of policy";
static const char err_invalid_pre[] = "invalid CIDR/IP in allowed_ips: ";

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits);
static bool is_v4_mapped(const struct osh_ip *ip);
static void map_v4(const uint8_t v4[4], struct osh_ip *out);
static bool in_table(const struct osh_cidr *t, size_t n, const struct osh_ip *ip);
static bool overlaps(const struct osh_cidr *a, const struct osh_cidr *b);
static bool overlaps_table(const struct osh_cidr *c, const struct osh_cidr *t, size_t n);
static bool cidr_is_always_blocked(const struct osh_cidr *c);
static int parse_prefix(const char *s, unsigned maxdigits, unsigned max, unsigned *out);
static void err_append(char *err, size_t errlen, size_t *pos, const char *pre, const char *e,
                       const char *post);

int
osh_ip_parse(const char *s, struct osh_ip *out)
{
    struct osh_ip ip;

    if (s == NULL || out == NULL)
        return -EINVAL;
    memset(&ip, 0, sizeof(ip));
    if (inet_pton(AF_INET, s, ip.addr) == 1)
        ip.family = AF_INET;
    else if (inet_pton(AF_INET6, s, ip.addr) == 1)
        ip.family = AF_INET6;
    else
        return -EINVAL;
    *out = ip;
    return 0;
}

/* Also -EINVAL for a family other than AF_INET / AF_INET6. */
int
osh_ip_format(const struct osh_ip *ip, char *buf, size_t len)
{
    if (ip == NULL || buf == NULL || (ip->family != AF_INET && ip->family != AF_INET6))
        return -EINVAL;
    if (len > INET6_ADDRSTRLEN)
        len = INET6_ADDRSTRLEN; /* fits socklen_t, and no address is longer */
    if (inet_ntop(ip->family, ip->addr, buf, (socklen_t)len) == NULL)
        return -ENOSPC;
    return 0;
}

/*
 * The prefix is 1-2 decimal digits for IPv4 and 1-3 for IPv6, leading zeros
 * allowed within that width ("/08" is /8), as ipnet parses it upstream.
 * Host bits in the address are accepted and cleared ("10.1.2.3/8" is
 * 10.0.0.0/8).  Nothing is trimmed: " 10.0.0.0/8" is invalid.
 */
int
osh_cidr_parse(const char *s, struct osh_cidr *out)
{
    char addr[INET6_ADDRSTRLEN];
    struct osh_cidr c;
    size_t alen;
    unsigned bits;

    if (s == NULL || out == NULL)
        return -EINVAL;
    memset(&c, 0, sizeof(c));
    alen = strcspn(s, "/");
    if (s[alen] == '\0') {
        if (osh_ip_parse(s, &c.ip) != 0)
            return -EINVAL;
        c.prefix = c.ip.family == AF_INET ? 32 : 128;
        *out = c;
        return 0;
    }
    if (alen >= sizeof(addr))
        return -EINVAL;
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    if (osh_ip_parse(addr, &c.ip) != 0)
        return -EINVAL;
    bits = c.ip.family == AF_INET ? 32 : 128;
    if (parse_prefix(&s[alen + 1], c.ip.family == AF_INET ? 2 : 3, bits, &c.prefix) != 0)
        return -EINVAL;
    /* clear the host bits */
    for (unsigned i = 0; i < bits / 8; i++) {
        if (c.prefix >= (i + 1) * 8)
            continue;
        if (c.prefix <= i * 8)
            c.ip.addr[i] = 0;
        else
            c.ip.addr[i] &= (uint8_t)(0xFF00u >> (c.prefix - i * 8));
    }
    *out = c;
    return 0;
}

/*
 * Mixed families meet in IPv6: an IPv4 address is the IPv4-mapped IPv6
 * address, so ::ffff:10.0.0.1 is in 10.0.0.0/8 and 10.0.0.1 is in
 * ::ffff:10.0.0.0/104 (and in ::/0).  An IPv6 address that is not mapped is
 * never in an IPv4 CIDR.
 */
bool
osh_cidr_contains(const struct osh_cidr *c, const struct osh_ip *ip)
{
    struct osh_ip m;

    if (c == NULL || ip == NULL)
        return false;
    if (c->ip.family == AF_INET) {
        if (c->prefix > 32)
            return false;
        if (ip->family == AF_INET)
            return prefix_equal(c->ip.addr, ip->addr, c->prefix);
        if (is_v4_mapped(ip))
            return prefix_equal(c->ip.addr, &ip->addr[12], c->prefix);
        return false;
    }
    if (c->ip.family != AF_INET6 || c->prefix > 128)
        return false;
    if (ip->family == AF_INET6)
        return prefix_equal(c->ip.addr, ip->addr, c->prefix);
    if (ip->family == AF_INET) {
        map_v4(ip->addr, &m);
        return prefix_equal(c->ip.addr, m.addr, c->prefix);
    }
    return false;
}

bool
osh_ip_is_always_blocked(const struct osh_ip *ip)
{
    if (ip == NULL)
        return false;
    if (ip->family == AF_INET6 && !is_v4_mapped(ip))
        return in_table(v6_always_blocked, ARRAY_LEN(v6_always_blocked), ip);
    return in_table(v4_always_blocked, ARRAY_LEN(v4_always_blocked), ip);
}

bool
osh_ip_is_internal(const struct osh_ip *ip)
{
    if (ip == NULL)
        return false;
    if (osh_ip_is_always_blocked(ip))
        return true;
    if (ip->family == AF_INET6 && !is_v4_mapped(ip))
        return in_table(v6_internal, ARRAY_LEN(v6_internal), ip);
    return in_table(v4_internal, ARRAY_LEN(v4_internal), ip);
}

bool
osh_port_is_control_plane(uint16_t port)
{
    switch (port) {
    case 2379:  /* etcd client */
    case 2380:  /* etcd peer */
    case 6443:  /* kube-apiserver */
    case 10250: /* kubelet */
    case 10255: /* kubelet read-only */
        return true;
    default:
        return false;
    }
}

/*
 * Every entry is checked so the error names all bad entries, as upstream
 * does.  An error text longer than `errlen` is truncated (still terminated);
 * the return value does not depend on it.  With n == 0 it returns 0 and
 * *out == NULL.
 */
int
osh_allowed_ips_parse(const char *const *entries, size_t n, struct osh_cidr **out, size_t *nout,
                      bool *broad, char *err, size_t errlen)
{
    struct osh_cidr *nets = NULL;
    size_t k = 0, errpos = 0;
    bool bad = false, wide = false;
    int rc = -EINVAL;

    *out = NULL;
    *nout = 0;
    *broad = false;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (n == 0)
        return 0;
    if (entries == NULL)
        goto fail;
    if ((nets = calloc(n, sizeof(*nets))) == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        const char *e = entries[i] != NULL ? entries[i] : "";
        struct osh_cidr c;

        if (osh_cidr_parse(e, &c) != 0) {
            err_append(err, errlen, &errpos, err_invalid_pre, e, "");
            bad = true;
            continue;
        }
        if (cidr_is_always_blocked(&c)) {
            err_append(err, errlen, &errpos, err_blocked_pre, e, err_blocked_post);
            bad = true;
            continue;
        }
        if (c.prefix < 16)
            wide = true;
        nets[k++] = c;
    }
    if (bad)
        goto fail;
    *out = nets;
    *nout = k;
    *broad = wide;
    return 0;
fail:
    free(nets);
    return rc;
}

/* Whether the first `bits` bits of a and b agree. */
static bool
prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;

    if (memcmp(a, b, full) != 0)
        return false;
    if (rest == 0)
        return true;
    return ((a[full] ^ b[full]) & (uint8_t)(0xFF00u >> rest)) == 0;
}

static bool
is_v4_mapped(const struct osh_ip *ip)
{
    static const uint8_t pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    return ip->family == AF_INET6 && memcmp(ip->addr, pfx, sizeof(pfx)) == 0;
}

static void
map_v4(const uint8_t v4[4], struct osh_ip *out)
{
    memset(out, 0, sizeof(*out));
    out->family = AF_INET6;
    out->addr[10] = 0xff;
    out->addr[11] = 0xff;
    memcpy(&out->addr[12], v4, 4);
}

static bool
in_table(const struct osh_cidr *t, size_t n, const struct osh_ip *ip)
{
    for (size_t i = 0; i < n; i++)
        if (osh_cidr_contains(&t[i], ip))
            return true;
    return false;
}

/* Two CIDRs of one family overlap iff they agree on the shorter prefix. */
static bool
overlaps(const struct osh_cidr *a, const struct osh_cidr *b)
{
    if (a->ip.family != b->ip.family)
        return false;
    return prefix_equal(a->ip.addr, b->ip.addr, a->prefix < b->prefix ? a->prefix : b->prefix);
}

static bool
overlaps_table(const struct osh_cidr *c, const struct osh_cidr *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (overlaps(c, &t[i]))
            return true;
    return false;
}

/*
 * §1.7: an entry is refused when it overlaps (not merely lies inside) an
 * always-blocked range, so 0.0.0.0/0, 126.0.0.0/7 and ::/0 are refused too.
 * IPv6 entries are also tested against ::ffff:<range>/(96 + p) for each IPv4
 * range.  Upstream only looks at the network address of a mapped entry and
 * so accepts e.g. ::ffff:126.0.0.0/103; true overlap is stricter, on purpose.
 */
static bool
cidr_is_always_blocked(const struct osh_cidr *c)
{
    if (c->ip.family == AF_INET)
        return overlaps_table(c, v4_always_blocked, ARRAY_LEN(v4_always_blocked));
    if (overlaps_table(c, v6_always_blocked, ARRAY_LEN(v6_always_blocked)))
        return true;
    for (size_t i = 0; i < ARRAY_LEN(v4_always_blocked); i++) {
        struct osh_cidr m;
        map_v4(v4_always_blocked[i].ip.addr, &m.ip);
        m.prefix = 96 + v4_always_blocked[i].prefix;
        if (overlaps(c, &m))
            return true;
    }
    return false;
}

/* strtonum-style: 1..maxdigits decimal digits, value <= max, nothing after. */
static int
parse_prefix(const char *s, unsigned maxdigits, unsigned max, unsigned *out)
{
    unsigned v = 0, i;

    for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
        if (i == maxdigits)
            return -EINVAL;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (i == 0 || s[i] != '\0' || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

/* Appends "<sep><pre><e><post>" with sep "; " after the first message. */
static void
err_append(char *err, size_t errlen, size_t *pos, const char *pre, const char *e, const char *post)
{
    int n;

    if (err == NULL || errlen == 0 || *pos >= errlen - 1)
        return;
    n = snprintf(&err[*pos], errlen - *pos, "%s%s%s%s", *pos > 0 ? "; " : "", pre, e, post);
    /* on truncation the buffer is full; later messages are dropped */
    if (n < 0 || (size_t)n >= errlen - *pos)
        *pos = errlen - 1;
    else
        *pos += (size_t)n;
}
