/*
 * test_events.c - denial/activity event helpers: names, the deny-group
 * allowlist, bounded copies (truncation, NUL termination, UTF-8 boundary).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "osh/events.h"

static void
test_stage_names(void **state)
{
    (void)state;
    assert_string_equal(osh_denial_stage_name(OSH_STAGE_CONNECT), "connect");
    assert_string_equal(osh_denial_stage_name(OSH_STAGE_FORWARD), "forward");
    assert_string_equal(osh_denial_stage_name(OSH_STAGE_FORWARD_L7_DENY), "forward-l7-deny");
    assert_string_equal(osh_denial_stage_name(OSH_STAGE_SSRF), "ssrf");
    assert_string_equal(osh_denial_stage_name(OSH_STAGE_BYPASS), "bypass");
    assert_string_equal(osh_denial_stage_name((enum osh_denial_stage)42), "unknown");
}

static void
test_group_names(void **state)
{
    static const char *const want[OSH_DENY_GROUP_COUNT] = {
        "connect_policy",     "forward_policy", "ssrf",   "l7_policy",
        "l7_parse_rejection", "policy_stale",   "bypass", "unknown",
    };
    (void)state;
    for (int g = 0; g < OSH_DENY_GROUP_COUNT; g++) {
        assert_string_equal(osh_deny_group_name((enum osh_deny_group)g), want[g]);
        /* every canonical name maps to itself through the allowlist */
        assert_int_equal(osh_deny_group_sanitize(want[g]), g);
    }
    assert_string_equal(osh_deny_group_name((enum osh_deny_group)99), "unknown");
}

static void
test_group_sanitize_table(void **state)
{
    static const struct {
        const char *in;
        enum osh_deny_group out;
    } cases[] = {
        {"connect", OSH_DENY_GROUP_CONNECT_POLICY},
        {"l4_deny", OSH_DENY_GROUP_CONNECT_POLICY},
        {"connect_policy", OSH_DENY_GROUP_CONNECT_POLICY},
        {"forward", OSH_DENY_GROUP_FORWARD_POLICY},
        {"forward_policy", OSH_DENY_GROUP_FORWARD_POLICY},
        {"l7", OSH_DENY_GROUP_L7_POLICY},
        {"l7_deny", OSH_DENY_GROUP_L7_POLICY},
        {"l7_policy", OSH_DENY_GROUP_L7_POLICY},
        {"forward-l7-deny", OSH_DENY_GROUP_L7_POLICY},
        {"parse_rejection", OSH_DENY_GROUP_L7_PARSE_REJECTION},
        {"l7_parse_rejection", OSH_DENY_GROUP_L7_PARSE_REJECTION},
        {"ssrf", OSH_DENY_GROUP_SSRF},
        {"bypass", OSH_DENY_GROUP_BYPASS},
        {"policy_stale", OSH_DENY_GROUP_POLICY_STALE},
        {"unknown", OSH_DENY_GROUP_UNKNOWN},
        {"", OSH_DENY_GROUP_UNKNOWN},
        {"CONNECT", OSH_DENY_GROUP_UNKNOWN},  /* case-sensitive */
        {"connect ", OSH_DENY_GROUP_UNKNOWN}, /* exact */
        {"forward_l7_deny", OSH_DENY_GROUP_UNKNOWN},
        {"ssrf\n", OSH_DENY_GROUP_UNKNOWN},
        {"inference", OSH_DENY_GROUP_UNKNOWN},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(osh_deny_group_sanitize(cases[i].in), cases[i].out);
    assert_int_equal(osh_deny_group_sanitize(NULL), OSH_DENY_GROUP_UNKNOWN);
}

static void
test_group_from_stage(void **state)
{
    (void)state;
    assert_int_equal(osh_deny_group_from_stage(OSH_STAGE_CONNECT), OSH_DENY_GROUP_CONNECT_POLICY);
    assert_int_equal(osh_deny_group_from_stage(OSH_STAGE_FORWARD), OSH_DENY_GROUP_FORWARD_POLICY);
    assert_int_equal(osh_deny_group_from_stage(OSH_STAGE_FORWARD_L7_DENY),
                     OSH_DENY_GROUP_L7_POLICY);
    assert_int_equal(osh_deny_group_from_stage(OSH_STAGE_SSRF), OSH_DENY_GROUP_SSRF);
    assert_int_equal(osh_deny_group_from_stage(OSH_STAGE_BYPASS), OSH_DENY_GROUP_BYPASS);
    /* every stage name is also accepted by the allowlist, to the same group */
    for (int s = OSH_STAGE_CONNECT; s <= OSH_STAGE_BYPASS; s++)
        assert_int_equal(osh_deny_group_sanitize(osh_denial_stage_name((enum osh_denial_stage)s)),
                         osh_deny_group_from_stage((enum osh_denial_stage)s));
}

static void
test_init_basic(void **state)
{
    struct osh_denial_event ev;
    const char *anc[] = {"/bin/bash", "/usr/bin/node", "/sbin/init"};
    (void)state;

    assert_int_equal(osh_denial_event_init(&ev, OSH_STAGE_CONNECT, "httpbin.org", 443,
                                           "/usr/bin/curl", anc, 3, "no matching policy"),
                     0);
    assert_int_equal(ev.stage, OSH_STAGE_CONNECT);
    assert_int_equal(ev.port, 443);
    assert_int_equal(ev.pid, 0);
    assert_true(ev.time_ms > 1600000000000ull); /* after 2020 */
    assert_string_equal(ev.host, "httpbin.org");
    assert_string_equal(ev.binary, "/usr/bin/curl");
    assert_string_equal(ev.ancestors, "/bin/bash -> /usr/bin/node -> /sbin/init");
    assert_string_equal(ev.deny_reason, "no matching policy");
    assert_string_equal(ev.l7_method, "");
    assert_string_equal(ev.l7_path, "");
    assert_false(ev.truncated);
    assert_int_equal(osh_denial_event_check(&ev), 0);

    assert_int_equal(osh_denial_event_set_l7(&ev, "POST", "/v1/items"), 0);
    assert_string_equal(ev.l7_method, "POST");
    assert_string_equal(ev.l7_path, "/v1/items");
    assert_false(ev.truncated);
    assert_int_equal(osh_denial_event_set_l7(&ev, NULL, NULL), 0);
    assert_string_equal(ev.l7_method, "");
    assert_string_equal(ev.l7_path, "");
}

static void
test_init_defaults_and_errors(void **state)
{
    struct osh_denial_event ev;
    (void)state;

    assert_int_equal(
        osh_denial_event_init(&ev, OSH_STAGE_BYPASS, "93.184.216.34", 443, NULL, NULL, 0, NULL), 0);
    assert_string_equal(ev.binary, "-");
    assert_string_equal(ev.ancestors, "");
    assert_string_equal(ev.deny_reason, "");
    assert_int_equal(osh_denial_event_init(&ev, OSH_STAGE_SSRF, NULL, 80, "", NULL, 0, "x"), 0);
    assert_string_equal(ev.binary, "-");
    assert_string_equal(ev.host, "");

    assert_int_equal(osh_denial_event_init(NULL, OSH_STAGE_CONNECT, "h", 1, "b", NULL, 0, "r"),
                     -EINVAL);
    assert_int_equal(
        osh_denial_event_init(&ev, (enum osh_denial_stage)17, "h", 1, "b", NULL, 0, "r"), -EINVAL);
    assert_int_equal(osh_denial_event_init(&ev, OSH_STAGE_CONNECT, "h", 1, "b", NULL, 2, "r"),
                     -EINVAL);
    assert_int_equal(osh_denial_event_set_l7(NULL, "GET", "/"), -EINVAL);
}

static void
test_truncation_and_nul(void **state)
{
    struct osh_denial_event ev;
    char big[5000];
    (void)state;

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    /* poison so a missing terminator would show */
    memset(&ev, 0x7f, sizeof(ev));
    assert_int_equal(osh_denial_event_init(&ev, OSH_STAGE_FORWARD, big, 80, big, NULL, 0, big), 0);
    assert_true(ev.truncated);
    assert_int_equal(strlen(ev.host), sizeof(ev.host) - 1);
    assert_int_equal(strlen(ev.binary), sizeof(ev.binary) - 1);
    assert_int_equal(strlen(ev.deny_reason), sizeof(ev.deny_reason) - 1);
    assert_int_equal(ev.ancestors[0], '\0');
    assert_int_equal(osh_denial_event_check(&ev), 0);

    /* exactly the capacity minus one fits without truncation */
    big[sizeof(ev.host) - 1] = '\0';
    assert_int_equal(osh_denial_event_init(&ev, OSH_STAGE_FORWARD, big, 80, "b", NULL, 0, "r"), 0);
    assert_false(ev.truncated);
    assert_int_equal(strlen(ev.host), sizeof(ev.host) - 1);
    /* one more byte does not */
    big[sizeof(ev.host) - 1] = 'a';
    big[sizeof(ev.host)] = '\0';
    assert_int_equal(osh_denial_event_init(&ev, OSH_STAGE_FORWARD, big, 80, "b", NULL, 0, "r"), 0);
    assert_true(ev.truncated);

    /* L7 fields: method is 16 bytes */
    assert_int_equal(osh_denial_event_init(&ev, OSH_STAGE_FORWARD, "h", 80, "b", NULL, 0, "r"), 0);
    assert_int_equal(osh_denial_event_set_l7(&ev, "AVERYLONGMETHODNAME", "/"), 0);
    assert_string_equal(ev.l7_method, "AVERYLONGMETHOD");
    assert_true(ev.truncated);
}

static void
test_utf8_boundary(void **state)
{
    struct osh_denial_event ev;
    char s[600];
    size_t n;
    (void)state;

    /* 254 ASCII bytes then "é" (2 bytes) then "€" (3 bytes): the host array
     * holds 255 bytes + NUL, so "é" would end at byte 256: it must go
     * whole, leaving 254 bytes. */
    memset(s, 'x', 254);
    memcpy(s + 254, "\xc3\xa9\xe2\x82\xac", 5);
    s[259] = '\0';
    assert_int_equal(osh_denial_event_init(&ev, OSH_STAGE_CONNECT, s, 1, "b", NULL, 0, "r"), 0);
    assert_true(ev.truncated);
    assert_int_equal(strlen(ev.host), 254);

    /* 253 ASCII + "é" fits exactly in 255 bytes. */
    memset(s, 'x', 253);
    memcpy(s + 253, "\xc3\xa9\xe2\x82\xac", 5);
    s[258] = '\0';
    assert_int_equal(osh_denial_event_init(&ev, OSH_STAGE_CONNECT, s, 1, "b", NULL, 0, "r"), 0);
    assert_true(ev.truncated);
    assert_int_equal(strlen(ev.host), 255);
    assert_memory_equal(ev.host + 253, "\xc3\xa9", 2);

    /* 4-byte characters (U+1F600) across the boundary: the cut lands on a
     * character start for every alignment. */
    for (int pre = 0; pre < 4; pre++) {
        memset(s, 'y', (size_t)pre);
        n = (size_t)pre;
        while (n + 4 < sizeof(s) - 1) {
            memcpy(s + n, "\xf0\x9f\x98\x80", 4);
            n += 4;
        }
        s[n] = '\0';
        assert_int_equal(osh_denial_event_init(&ev, OSH_STAGE_CONNECT, s, 1, "b", NULL, 0, "r"), 0);
        assert_true(ev.truncated);
        n = strlen(ev.host);
        assert_true(n <= 255 && n >= 252);
        assert_int_equal((n - (size_t)pre) % 4, 0);
    }
}

static void
test_ancestors_truncation(void **state)
{
    struct osh_denial_event ev;
    char path[300];
    const char *anc[8];
    (void)state;

    memset(path, 'p', sizeof(path) - 1);
    path[0] = '/';
    path[sizeof(path) - 1] = '\0';
    for (int i = 0; i < 8; i++)
        anc[i] = path;
    /* 8 x 299 bytes + 7 separators > 1023 */
    assert_int_equal(osh_denial_event_init(&ev, OSH_STAGE_CONNECT, "h", 1, "b", anc, 8, "r"), 0);
    assert_true(ev.truncated);
    assert_true(strlen(ev.ancestors) <= sizeof(ev.ancestors) - 1);
    assert_int_equal(strncmp(ev.ancestors, path, strlen(path)), 0);
    assert_int_equal(strncmp(ev.ancestors + strlen(path), " -> /", 5), 0);
    assert_int_equal(osh_denial_event_check(&ev), 0);

    /* a NULL entry counts as an empty name */
    anc[0] = "/a";
    anc[1] = NULL;
    anc[2] = "/c";
    assert_int_equal(osh_denial_event_init(&ev, OSH_STAGE_CONNECT, "h", 1, "b", anc, 3, "r"), 0);
    assert_string_equal(ev.ancestors, "/a ->  -> /c");
    assert_false(ev.truncated);
}

static void
test_check_rejects(void **state)
{
    struct osh_denial_event ev;
    (void)state;

    assert_int_equal(osh_denial_event_init(&ev, OSH_STAGE_CONNECT, "h", 1, "b", NULL, 0, "r"), 0);
    assert_int_equal(osh_denial_event_check(&ev), 0);
    memset(ev.l7_path, 'z', sizeof(ev.l7_path)); /* unterminated */
    assert_int_equal(osh_denial_event_check(&ev), -EBADMSG);
    ev.l7_path[0] = '\0';
    ev.stage = (enum osh_denial_stage)9;
    assert_int_equal(osh_denial_event_check(&ev), -EBADMSG);
    assert_int_equal(osh_denial_event_check(NULL), -EBADMSG);
}

static void
test_activity_event_is_small(void **state)
{
    struct osh_activity_event a = {.time_ms = 1, .denied = true, .group = OSH_DENY_GROUP_BYPASS};
    (void)state;
    assert_true(sizeof(a) <= 16);
    assert_string_equal(osh_deny_group_name(a.group), "bypass");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stage_names),
        cmocka_unit_test(test_group_names),
        cmocka_unit_test(test_group_sanitize_table),
        cmocka_unit_test(test_group_from_stage),
        cmocka_unit_test(test_init_basic),
        cmocka_unit_test(test_init_defaults_and_errors),
        cmocka_unit_test(test_truncation_and_nul),
        cmocka_unit_test(test_utf8_boundary),
        cmocka_unit_test(test_ancestors_truncation),
        cmocka_unit_test(test_check_rejects),
        cmocka_unit_test(test_activity_event_is_small),
    };
    return cmocka_run_group_tests_name("events", tests, NULL, NULL);
}
