/*
 * events.c - names, the deny-group allowlist, and the bounded fillers of the
 * fixed-size denial event (osh/events.h).
 *
 * Everything here runs on the data path: no allocation, no lock, no global
 * state.  Strings are copied with an explicit bound and cut at a UTF-8
 * character boundary, so an event never carries half a character and the
 * OCSF encoder downstream (jansson rejects invalid UTF-8) sees valid text
 * whenever the input was valid.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "osh/events.h"

static size_t utf8_cut(const char *s, size_t n);
static bool append_bounded(char *dst, size_t cap, size_t *pos, const char *src);
static bool copy_bounded(char *dst, size_t cap, const char *src);
static uint64_t now_ms(void);

/*
 * `s` is longer than `n` bytes: returns the largest k <= n such that s[0..k)
 * ends on a character boundary.  A UTF-8 character has at most three
 * continuation bytes (10xxxxxx), so stepping back over at most three of them
 * reaches the lead byte; if the input is not UTF-8 we cut at n.
 */
static size_t
utf8_cut(const char *s, size_t n)
{
    size_t k = n;

    for (int back = 0; back < 3 && k > 0; back++) {
        if (((unsigned char)s[k] & 0xC0) != 0x80)
            return k;
        k--;
    }
    return ((unsigned char)s[k] & 0xC0) != 0x80 ? k : n;
}

/*
 * Appends `src` at dst[*pos], never writing past dst[cap - 1], and keeps dst
 * NUL-terminated.  Requires cap >= 1 and *pos < cap.  Returns true if all of
 * src fit, false if it was cut (at a UTF-8 boundary).
 */
static bool
append_bounded(char *dst, size_t cap, size_t *pos, const char *src)
{
    size_t room = cap - 1 - *pos;
    size_t n = strnlen(src, room + 1);
    bool fit = n <= room;

    if (!fit)
        n = utf8_cut(src, room);
    memcpy(dst + *pos, src, n);
    *pos += n;
    dst[*pos] = '\0';
    return fit;
}

static bool
copy_bounded(char *dst, size_t cap, const char *src)
{
    size_t pos = 0;

    dst[0] = '\0';
    return append_bounded(dst, cap, &pos, src != NULL ? src : "");
}

static uint64_t
now_ms(void)
{
    struct timespec ts;

    /* vDSO on Linux: no real syscall on the data path. */
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *
osh_denial_stage_name(enum osh_denial_stage stage)
{
    switch (stage) {
    case OSH_STAGE_CONNECT:
        return "connect";
    case OSH_STAGE_FORWARD:
        return "forward";
    case OSH_STAGE_FORWARD_L7_DENY:
        return "forward-l7-deny";
    case OSH_STAGE_SSRF:
        return "ssrf";
    case OSH_STAGE_BYPASS:
        return "bypass";
    }
    return "unknown";
}

const char *
osh_deny_group_name(enum osh_deny_group group)
{
    switch (group) {
    case OSH_DENY_GROUP_CONNECT_POLICY:
        return "connect_policy";
    case OSH_DENY_GROUP_FORWARD_POLICY:
        return "forward_policy";
    case OSH_DENY_GROUP_SSRF:
        return "ssrf";
    case OSH_DENY_GROUP_L7_POLICY:
        return "l7_policy";
    case OSH_DENY_GROUP_L7_PARSE_REJECTION:
        return "l7_parse_rejection";
    case OSH_DENY_GROUP_POLICY_STALE:
        return "policy_stale";
    case OSH_DENY_GROUP_BYPASS:
        return "bypass";
    case OSH_DENY_GROUP_UNKNOWN:
        return "unknown";
    }
    return "unknown";
}

enum osh_deny_group
osh_deny_group_sanitize(const char *label)
{
    /* The allowlist of network.md §9.3; everything else is "unknown" so a
     * free-form label can never create a new counter. */
    static const struct {
        const char *label;
        enum osh_deny_group group;
    } map[] = {
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
    };

    if (label == NULL)
        return OSH_DENY_GROUP_UNKNOWN;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(label, map[i].label) == 0)
            return map[i].group;
    }
    return OSH_DENY_GROUP_UNKNOWN;
}

enum osh_deny_group
osh_deny_group_from_stage(enum osh_denial_stage stage)
{
    switch (stage) {
    case OSH_STAGE_CONNECT:
        return OSH_DENY_GROUP_CONNECT_POLICY;
    case OSH_STAGE_FORWARD:
        return OSH_DENY_GROUP_FORWARD_POLICY;
    case OSH_STAGE_FORWARD_L7_DENY:
        return OSH_DENY_GROUP_L7_POLICY;
    case OSH_STAGE_SSRF:
        return OSH_DENY_GROUP_SSRF;
    case OSH_STAGE_BYPASS:
        return OSH_DENY_GROUP_BYPASS;
    }
    return OSH_DENY_GROUP_UNKNOWN;
}

int
osh_denial_event_init(struct osh_denial_event *ev, enum osh_denial_stage stage, const char *host,
                      uint16_t port, const char *binary, const char *const *ancestors,
                      size_t n_ancestors, const char *reason)
{
    bool fit = true;
    size_t pos = 0;

    if (ev == NULL)
        return -EINVAL;
    memset(ev, 0, sizeof(*ev));
    if ((unsigned)stage > (unsigned)OSH_STAGE_BYPASS || (ancestors == NULL && n_ancestors > 0))
        return -EINVAL;

    ev->time_ms = now_ms();
    ev->stage = stage;
    ev->port = port;
    fit &= copy_bounded(ev->host, sizeof(ev->host), host);
    fit &= copy_bounded(ev->binary, sizeof(ev->binary),
                        binary != NULL && binary[0] != '\0' ? binary : "-");
    fit &= copy_bounded(ev->deny_reason, sizeof(ev->deny_reason), reason);
    for (size_t i = 0; i < n_ancestors; i++) {
        const char *a = ancestors[i] != NULL ? ancestors[i] : "";

        /* Stop at the first cut: a chain with a hole in it would misattribute
         * the parents that follow. */
        if (i > 0 &&
            !append_bounded(ev->ancestors, sizeof(ev->ancestors), &pos, OSH_ANCESTOR_SEP)) {
            fit = false;
            break;
        }
        if (!append_bounded(ev->ancestors, sizeof(ev->ancestors), &pos, a)) {
            fit = false;
            break;
        }
    }
    ev->truncated = !fit;
    return 0;
}

int
osh_denial_event_set_l7(struct osh_denial_event *ev, const char *method, const char *path)
{
    bool fit = true;

    if (ev == NULL)
        return -EINVAL;
    fit &= copy_bounded(ev->l7_method, sizeof(ev->l7_method), method);
    fit &= copy_bounded(ev->l7_path, sizeof(ev->l7_path), path);
    if (!fit)
        ev->truncated = true;
    return 0;
}

int
osh_denial_event_check(const struct osh_denial_event *ev)
{
    if (ev == NULL || (unsigned)ev->stage > (unsigned)OSH_STAGE_BYPASS)
        return -EBADMSG;
    if (memchr(ev->host, '\0', sizeof(ev->host)) == NULL ||
        memchr(ev->binary, '\0', sizeof(ev->binary)) == NULL ||
        memchr(ev->ancestors, '\0', sizeof(ev->ancestors)) == NULL ||
        memchr(ev->deny_reason, '\0', sizeof(ev->deny_reason)) == NULL ||
        memchr(ev->l7_method, '\0', sizeof(ev->l7_method)) == NULL ||
        memchr(ev->l7_path, '\0', sizeof(ev->l7_path)) == NULL)
        return -EBADMSG;
    return 0;
}
