/*
 * test_netaddr.c - IP/CIDR parsing, containment, the SSRF address classes
 * (policy.md §2.7) and allowed_ips validation (§1.7).
 *
 * Table driven: every row of every table runs as its own cmocka test, named
 * after the table and its input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "osh/netaddr.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The exact §1.7 texts, the em dash spelled as bytes to pin its encoding. */
#define BLOCKED(e)                                                                                 \
    "allowed_ips entry " e " falls within always-blocked range "                                   \
    "(loopback/link-local/unspecified); remove this entry \xe2\x80\x94 SSRF hardening "            \
    "prevents traffic to these destinations regardless of policy"
#define INVALID(e) "invalid CIDR/IP in allowed_ips: " e

/* ---- address classes ---------------------------------------------------- */

struct class_case {
    const char *ip;
    bool blocked;
    bool internal;
};

static struct class_case class_cases[] = {
    /* IPv4 always-blocked and their edges */
    {"126.255.255.255", false, false},
    {"127.0.0.0", true, true},
    {"127.0.0.1", true, true},
    {"127.255.255.255", true, true},
    {"128.0.0.0", false, false},
    {"169.253.255.255", false, false},
    {"169.254.0.0", true, true},
    {"169.254.169.254", true, true},
    {"169.254.255.255", true, true},
    {"169.255.0.0", false, false},
    {"0.0.0.0", true, true},
    {"0.0.0.1", false, false},
    /* IPv4 internal ranges and their edges */
    {"9.255.255.255", false, false},
    {"10.0.0.0", false, true},
    {"10.255.255.255", false, true},
    {"11.0.0.0", false, false},
    {"172.15.255.255", false, false},
    {"172.16.0.0", false, true},
    {"172.31.255.255", false, true},
    {"172.32.0.1", false, false},
    {"192.167.255.255", false, false},
    {"192.168.0.0", false, true},
    {"192.168.255.255", false, true},
    {"192.169.0.0", false, false},
    {"100.63.255.255", false, false},
    {"100.64.0.0", false, true},
    {"100.127.255.255", false, true},
    {"100.128.0.1", false, false},
    {"192.0.0.0", false, true},
    {"192.0.0.255", false, true},
    {"192.0.1.0", false, false},
    {"192.0.2.0", false, true},
    {"192.0.2.255", false, true},
    {"192.0.3.0", false, false},
    {"198.51.99.255", false, false},
    {"198.51.100.0", false, true},
    {"198.51.100.255", false, true},
    {"198.51.101.0", false, false},
    {"203.0.112.255", false, false},
    {"203.0.113.0", false, true},
    {"203.0.113.255", false, true},
    {"203.0.114.0", false, false},
    {"198.17.255.255", false, false},
    {"198.18.0.0", false, true},
    {"198.19.255.255", false, true},
    {"198.20.0.0", false, false},
    {"255.255.255.254", false, false},
    {"255.255.255.255", false, true},
    {"8.8.8.8", false, false},
    /* IPv6 */
    {"::1", true, true},
    {"::", true, true},
    {"::2", false, false},
    {"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, false},
    {"fe80::", true, true},
    {"fe80::1", true, true},
    {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, true},
    {"fec0::", false, false},
    {"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, false},
    {"fc00::", false, true},
    {"fd12:3456::1", false, true},
    {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, true},
    {"fe00::", false, false},
    {"2001:4860:4860::8888", false, false},
    /* IPv4-mapped IPv6 is judged as IPv4 */
    {"::ffff:127.0.0.1", true, true},
    {"::ffff:169.254.169.254", true, true},
    {"::ffff:0.0.0.0", true, true},
    {"0:0:0:0:0:ffff:7f00:1", true, true},
    {"::ffff:10.0.0.1", false, true},
    {"::ffff:100.64.0.1", false, true},
    {"::ffff:172.31.0.1", false, true},
    {"::ffff:255.255.255.255", false, true},
    {"::ffff:8.8.8.8", false, false},
    {"::ffff:100.128.0.1", false, false},
    /* not mapped: IPv4-compatible and NAT64 forms are plain IPv6 (as upstream) */
    {"::127.0.0.1", false, false},
    {"::ffff:0:7f00:1", false, false},
    {"64:ff9b::7f00:1", false, false},
};

static void
run_class(void **state)
{
    const struct class_case *c = *state;
    struct osh_ip ip;

    assert_int_equal(osh_ip_parse(c->ip, &ip), 0);
    if (osh_ip_is_always_blocked(&ip) != c->blocked || osh_ip_is_internal(&ip) != c->internal)
        print_error("%s: blocked=%d internal=%d\n", c->ip, osh_ip_is_always_blocked(&ip),
                    osh_ip_is_internal(&ip));
    assert_int_equal(osh_ip_is_always_blocked(&ip), c->blocked);
    assert_int_equal(osh_ip_is_internal(&ip), c->internal);
}

/* ---- CIDR parsing --------------------------------------------------------- */

struct cidr_case {
    const char *in;
    const char *want; /* "addr/prefix" after parsing; NULL: -EINVAL */
};

static struct cidr_case cidr_cases[] = {
    {"10.0.0.0/8", "10.0.0.0/8"},
    {"10.1.2.3/8", "10.0.0.0/8"},
    {"172.31.255.255/12", "172.16.0.0/12"},
    {"1.2.3.4", "1.2.3.4/32"},
    {"1.2.3.4/32", "1.2.3.4/32"},
    {"1.2.3.4/0", "0.0.0.0/0"},
    {"0.0.0.0/0", "0.0.0.0/0"},
    {"10.0.0.0/08", "10.0.0.0/8"},
    {"::1", "::1/128"},
    {"::/0", "::/0"},
    {"2001:db8::/32", "2001:db8::/32"},
    {"2001:db8:ffff::/33", "2001:db8:8000::/33"},
    {"2001:DB8::1/128", "2001:db8::1/128"},
    {"::ffff:1.2.3.4/120", "::ffff:1.2.3.0/120"},
    {"fe80::1/010", "fe80::/10"},
    {"10.0.0.0/33", NULL},
    {"10.0.0.0/008", NULL},
    {"1.2.3.4/", NULL},
    {"/8", NULL},
    {"", NULL},
    {"10.0.0.0/-1", NULL},
    {"10.0.0.0/+8", NULL},
    {"10.0.0.0/8 ", NULL},
    {" 10.0.0.0/8", NULL},
    {"10.0.0.0/8/8", NULL},
    {"10.0.0.0/0x8", NULL},
    {"010.0.0.1", NULL},
    {"127.1", NULL},
    {"0x7f.0.0.1", NULL},
    {"1.2.3", NULL},
    {"256.0.0.1", NULL},
    {"::/129", NULL},
    {"::/0128", NULL},
    {"[::1]", NULL},
    {"fe80::1%eth0", NULL},
    {"1::2::3", NULL},
    {"example.com", NULL},
    {"1111:2222:3333:4444:5555:6666:7777:8888:9999/64", NULL},
};

static void
run_cidr(void **state)
{
    const struct cidr_case *c = *state;
    struct osh_cidr cidr;
    char buf[INET6_ADDRSTRLEN + 8], addr[INET6_ADDRSTRLEN];
    int rc = osh_cidr_parse(c->in, &cidr);

    if (c->want == NULL) {
        assert_int_equal(rc, -EINVAL);
        return;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(osh_ip_format(&cidr.ip, addr, sizeof(addr)), 0);
    snprintf(buf, sizeof(buf), "%s/%u", addr, cidr.prefix);
    assert_string_equal(buf, c->want);
}

/* ---- containment -------------------------------------------------------- */

struct contains_case {
    const char *cidr;
    const char *ip;
    bool want;
};

static struct contains_case contains_cases[] = {
    {"10.0.0.0/8", "10.255.255.255", true},
    {"10.0.0.0/8", "11.0.0.0", false},
    {"10.0.0.0/8", "9.255.255.255", false},
    {"172.16.0.0/12", "172.31.255.255", true},
    {"172.16.0.0/12", "172.32.0.0", false},
    {"1.2.3.4", "1.2.3.4", true},
    {"1.2.3.4", "1.2.3.5", false},
    {"0.0.0.0/0", "8.8.8.8", true},
    {"198.18.0.0/15", "198.19.1.1", true},
    {"2001:db8::/32", "2001:db8:ffff::1", true},
    {"2001:db8::/32", "2001:db9::", false},
    {"fe80::/10", "febf::1", true},
    {"fe80::/10", "fec0::1", false},
    {"::/0", "2001:4860:4860::8888", true},
    {"::1", "::1", true},
    {"::1", "::", false},
    /* mixed families */
    {"10.0.0.0/8", "::ffff:10.1.2.3", true},
    {"10.0.0.0/8", "::ffff:11.1.2.3", false},
    {"10.0.0.0/8", "::10.1.2.3", false},
    {"10.0.0.0/8", "2001:db8::a01:203", false},
    {"0.0.0.0/0", "2001:db8::1", false},
    {"::ffff:10.0.0.0/104", "10.1.2.3", true},
    {"::ffff:10.0.0.0/104", "11.1.2.3", false},
    {"::ffff:0:0/96", "8.8.8.8", true},
    {"::/0", "1.2.3.4", true},
    {"2001:db8::/32", "1.2.3.4", false},
};

static void
run_contains(void **state)
{
    const struct contains_case *c = *state;
    struct osh_cidr cidr;
    struct osh_ip ip;

    assert_int_equal(osh_cidr_parse(c->cidr, &cidr), 0);
    assert_int_equal(osh_ip_parse(c->ip, &ip), 0);
    assert_int_equal(osh_cidr_contains(&cidr, &ip), c->want);
}

/* ---- allowed_ips -------------------------------------------------------- */

struct allowed_case {
    const char *name;
    const char *entries[5]; /* NULL terminated */
    int want_rc;
    const char *want_err;  /* on error, exact */
    const char *want_nets; /* on success: "a/p a/p ..." */
    bool want_broad;
};

static struct allowed_case allowed_cases[] = {
    {"single /16 is not broad", {"10.0.0.0/16"}, 0, NULL, "10.0.0.0/16", false},
    {"/15 is broad", {"10.0.0.0/15"}, 0, NULL, "10.0.0.0/15", true},
    {"/8 is broad", {"10.0.0.0/8"}, 0, NULL, "10.0.0.0/8", true},
    {"ipv6 /15 is broad", {"2001:db8::/15"}, 0, NULL, "2000::/15", true},
    {"ipv6 /16 is not broad", {"2001:db8::/16"}, 0, NULL, "2001::/16", false},
    {"bare ips are /32 and /128",
     {"10.1.2.3", "2001:db8::1"},
     0,
     NULL,
     "10.1.2.3/32 2001:db8::1/128",
     false},
    {"host bits cleared, order kept",
     {"192.168.1.7/24", "10.0.0.0/16", "fd00::1/64"},
     0,
     NULL,
     "192.168.1.0/24 10.0.0.0/16 fd00::/64",
     false},
    {"one broad entry flags the list",
     {"10.0.0.0/16", "192.0.0.0/2"},
     0,
     NULL,
     "10.0.0.0/16 192.0.0.0/2",
     true},
    {"next to loopback is fine",
     {"126.0.0.0/8", "128.0.0.0/8"},
     0,
     NULL,
     "126.0.0.0/8 128.0.0.0/8",
     true},
    {"next to link-local is fine",
     {"169.253.0.0/16", "169.255.0.0/16"},
     0,
     NULL,
     "169.253.0.0/16 169.255.0.0/16",
     false},
    {"0.0.0.1 is not unspecified", {"0.0.0.1"}, 0, NULL, "0.0.0.1/32", false},
    {"site-local and mapped private are fine",
     {"fec0::/10", "::ffff:10.0.0.0/104"},
     0,
     NULL,
     "fec0::/10 ::ffff:10.0.0.0/104",
     true},

    {"loopback ip", {"127.0.0.1"}, -EINVAL, BLOCKED("127.0.0.1"), NULL, false},
    {"loopback net", {"127.0.0.0/8"}, -EINVAL, BLOCKED("127.0.0.0/8"), NULL, false},
    {"overlapping loopback", {"126.0.0.0/7"}, -EINVAL, BLOCKED("126.0.0.0/7"), NULL, false},
    {"metadata ip", {"169.254.169.254"}, -EINVAL, BLOCKED("169.254.169.254"), NULL, false},
    {"overlapping link-local", {"169.0.0.0/8"}, -EINVAL, BLOCKED("169.0.0.0/8"), NULL, false},
    {"upper half contains link-local",
     {"128.0.0.0/1"},
     -EINVAL,
     BLOCKED("128.0.0.0/1"),
     NULL,
     false},
    {"unspecified", {"0.0.0.0"}, -EINVAL, BLOCKED("0.0.0.0"), NULL, false},
    {"unspecified /31", {"0.0.0.0/31"}, -EINVAL, BLOCKED("0.0.0.0/31"), NULL, false},
    {"everything", {"0.0.0.0/0"}, -EINVAL, BLOCKED("0.0.0.0/0"), NULL, false},
    {"ipv6 loopback", {"::1"}, -EINVAL, BLOCKED("::1"), NULL, false},
    {"ipv6 unspecified", {"::"}, -EINVAL, BLOCKED("::"), NULL, false},
    {"ipv6 everything", {"::/0"}, -EINVAL, BLOCKED("::/0"), NULL, false},
    {"ipv6 link-local ip", {"fe80::1"}, -EINVAL, BLOCKED("fe80::1"), NULL, false},
    {"ipv6 link-local net", {"fe80::/10"}, -EINVAL, BLOCKED("fe80::/10"), NULL, false},
    {"ipv6 net containing link-local", {"fe00::/8"}, -EINVAL, BLOCKED("fe00::/8"), NULL, false},
    {"mapped loopback", {"::ffff:127.0.0.1"}, -EINVAL, BLOCKED("::ffff:127.0.0.1"), NULL, false},
    {"mapped link-local net",
     {"::ffff:169.254.0.0/112"},
     -EINVAL,
     BLOCKED("::ffff:169.254.0.0/112"),
     NULL,
     false},
    {"mapped unspecified", {"::ffff:0.0.0.0"}, -EINVAL, BLOCKED("::ffff:0.0.0.0"), NULL, false},
    {"all mapped space", {"::ffff:0:0/96"}, -EINVAL, BLOCKED("::ffff:0:0/96"), NULL, false},
    {"mapped net overlapping loopback",
     {"::ffff:126.0.0.0/103"},
     -EINVAL,
     BLOCKED("::ffff:126.0.0.0/103"),
     NULL,
     false},

    {"garbage", {"foo"}, -EINVAL, INVALID("foo"), NULL, false},
    {"prefix too long", {"10.0.0.0/33"}, -EINVAL, INVALID("10.0.0.0/33"), NULL, false},
    {"empty prefix", {"1.2.3.4/"}, -EINVAL, INVALID("1.2.3.4/"), NULL, false},
    {"no trimming", {" 10.0.0.1"}, -EINVAL, INVALID(" 10.0.0.1"), NULL, false},
    {"empty entry", {""}, -EINVAL, INVALID(""), NULL, false},
    {"one bad entry poisons the list",
     {"10.0.0.0/16", "nope"},
     -EINVAL,
     INVALID("nope"),
     NULL,
     false},
    {"errors joined in order",
     {"foo", "10.0.0.0/8", "127.0.0.1", "1.2.3.4/", "::1"},
     -EINVAL,
     INVALID("foo") "; " BLOCKED("127.0.0.1") "; " INVALID("1.2.3.4/") "; " BLOCKED("::1"),
     NULL,
     false},
};

static size_t
count_entries(const struct allowed_case *c)
{
    size_t n = 0;

    while (n < ARRAY_LEN(c->entries) && c->entries[n] != NULL)
        n++;
    return n;
}

static void
run_allowed(void **state)
{
    const struct allowed_case *c = *state;
    static struct osh_cidr poison;
    struct osh_cidr *nets = &poison; /* must be reset by the call */
    size_t nout = 99;
    bool broad = !c->want_broad;
    char err[2048], list[512] = "", addr[INET6_ADDRSTRLEN];
    size_t pos = 0;
    int rc;

    memset(err, 'X', sizeof(err));
    rc =
        osh_allowed_ips_parse(c->entries, count_entries(c), &nets, &nout, &broad, err, sizeof(err));
    if (rc != c->want_rc)
        print_error("%s: rc %d err \"%s\"\n", c->name, rc, err);
    assert_int_equal(rc, c->want_rc);
    if (rc != 0) {
        assert_string_equal(err, c->want_err);
        assert_null(nets);
        assert_int_equal(nout, 0);
        assert_false(broad);
        return;
    }
    assert_string_equal(err, "");
    assert_int_equal(broad, c->want_broad);
    assert_int_equal(nout, count_entries(c));
    for (size_t i = 0; i < nout; i++) {
        assert_int_equal(osh_ip_format(&nets[i].ip, addr, sizeof(addr)), 0);
        pos += (size_t)snprintf(&list[pos], sizeof(list) - pos, "%s%s/%u", i ? " " : "", addr,
                                nets[i].prefix);
    }
    assert_string_equal(list, c->want_nets);
    free(nets);
}

/* ---- control-plane ports ------------------------------------------------ */

struct port_case {
    uint16_t port;
    bool want;
};

static struct port_case port_cases[] = {
    {2379, true},   {2380, true},  {6443, true},  {10250, true},  {10255, true},  {2378, false},
    {2381, false},  {6442, false}, {6444, false}, {10249, false}, {10251, false}, {10254, false},
    {10256, false}, {0, false},    {443, false},  {65535, false},
};

static void
run_port(void **state)
{
    const struct port_case *c = *state;

    assert_int_equal(osh_port_is_control_plane(c->port), c->want);
}

/* ---- one-off tests ------------------------------------------------------ */

static void
test_ip_parse_and_format(void **state)
{
    struct osh_ip ip;
    char buf[INET6_ADDRSTRLEN];

    (void)state;
    assert_int_equal(osh_ip_parse("1.2.3.4", &ip), 0);
    assert_int_equal(ip.family, AF_INET);
    assert_memory_equal(ip.addr, "\x01\x02\x03\x04\0\0\0\0\0\0\0\0\0\0\0\0", 16);
    assert_int_equal(osh_ip_format(&ip, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "1.2.3.4");

    assert_int_equal(osh_ip_parse("2001:0db8:0000:0000:0000:0000:0000:0001", &ip), 0);
    assert_int_equal(ip.family, AF_INET6);
    assert_int_equal(osh_ip_format(&ip, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "2001:db8::1");

    assert_int_equal(osh_ip_parse("0:0:0:0:0:ffff:102:304", &ip), 0);
    assert_int_equal(osh_ip_format(&ip, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "::ffff:1.2.3.4");

    assert_int_equal(osh_ip_parse("255.255.255.255", &ip), 0);
    assert_int_equal(osh_ip_format(&ip, buf, 16), 0);
    assert_int_equal(osh_ip_format(&ip, buf, 15), -ENOSPC);
    assert_int_equal(osh_ip_format(&ip, buf, 0), -ENOSPC);

    ip.family = AF_UNIX;
    assert_int_equal(osh_ip_format(&ip, buf, sizeof(buf)), -EINVAL);
    assert_false(osh_ip_is_always_blocked(&ip));
    assert_false(osh_ip_is_internal(&ip));

    memset(&ip, 0x5a, sizeof(ip));
    assert_int_equal(osh_ip_parse("nope", &ip), -EINVAL);
    assert_int_equal(ip.family, 0x5a5a5a5a); /* untouched on failure */
    assert_int_equal(osh_ip_parse(NULL, &ip), -EINVAL);
    assert_false(osh_ip_is_always_blocked(NULL));
}

static void
test_allowed_ips_edges(void **state)
{
    static const char *const two_bad[] = {"127.0.0.1", "x"};
    static const char *const one_good[] = {"10.0.0.0/24"};
    struct osh_cidr *nets = NULL;
    size_t nout = 7;
    bool broad = true;
    char err[40];

    (void)state;
    /* empty list: success, nothing allocated */
    assert_int_equal(osh_allowed_ips_parse(NULL, 0, &nets, &nout, &broad, err, sizeof(err)), 0);
    assert_null(nets);
    assert_int_equal(nout, 0);
    assert_false(broad);

    /* a short error buffer truncates but still fails */
    assert_int_equal(osh_allowed_ips_parse(two_bad, 2, &nets, &nout, &broad, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(strlen(err), sizeof(err) - 1);
    assert_memory_equal(err, "allowed_ips entry 127.0.0.1 falls withi", sizeof(err) - 1);
    /* no error buffer at all */
    assert_int_equal(osh_allowed_ips_parse(two_bad, 2, &nets, &nout, &broad, NULL, 0), -EINVAL);
    assert_null(nets);

    /* the returned CIDR works with contains */
    assert_int_equal(osh_allowed_ips_parse(one_good, 1, &nets, &nout, &broad, NULL, 0), 0);
    {
        struct osh_ip in, mapped, out;
        assert_int_equal(osh_ip_parse("10.0.0.200", &in), 0);
        assert_int_equal(osh_ip_parse("::ffff:10.0.0.9", &mapped), 0);
        assert_int_equal(osh_ip_parse("10.0.1.0", &out), 0);
        assert_true(osh_cidr_contains(&nets[0], &in));
        assert_true(osh_cidr_contains(&nets[0], &mapped));
        assert_false(osh_cidr_contains(&nets[0], &out));
    }
    free(nets);
}

/* ---- runner ------------------------------------------------------------- */

#define N_TESTS                                                                                    \
    (ARRAY_LEN(class_cases) + ARRAY_LEN(cidr_cases) + ARRAY_LEN(contains_cases) +                  \
     ARRAY_LEN(allowed_cases) + ARRAY_LEN(port_cases) + 2)

static char names[N_TESTS][128];

static void add(struct CMUnitTest *t, size_t *n, CMUnitTestFunction fn, void *st, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));

static void
add(struct CMUnitTest *t, size_t *n, CMUnitTestFunction fn, void *st, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(names[*n], sizeof(names[*n]), fmt, ap);
    va_end(ap);
    t[*n] = (struct CMUnitTest){.name = names[*n], .test_func = fn, .initial_state = st};
    (*n)++;
}

int
main(void)
{
    struct CMUnitTest tests[N_TESTS];
    size_t n = 0;

    for (size_t i = 0; i < ARRAY_LEN(class_cases); i++)
        add(tests, &n, run_class, &class_cases[i], "class %s", class_cases[i].ip);
    for (size_t i = 0; i < ARRAY_LEN(cidr_cases); i++)
        add(tests, &n, run_cidr, &cidr_cases[i], "cidr_parse \"%s\"", cidr_cases[i].in);
    for (size_t i = 0; i < ARRAY_LEN(contains_cases); i++)
        add(tests, &n, run_contains, &contains_cases[i], "contains %s %s", contains_cases[i].cidr,
            contains_cases[i].ip);
    for (size_t i = 0; i < ARRAY_LEN(allowed_cases); i++)
        add(tests, &n, run_allowed, &allowed_cases[i], "allowed_ips: %s", allowed_cases[i].name);
    for (size_t i = 0; i < ARRAY_LEN(port_cases); i++)
        add(tests, &n, run_port, &port_cases[i], "control-plane port %u",
            (unsigned)port_cases[i].port);
    add(tests, &n, test_ip_parse_and_format, NULL, "ip_parse and ip_format");
    add(tests, &n, test_allowed_ips_edges, NULL, "allowed_ips edges");
    if (n != N_TESTS)
        return 1;
    return cmocka_run_group_tests_name("netaddr", tests, NULL, NULL);
}
