/*
 * events.h - the in-process event structs that travel from the data path to
 * the aggregator through osh_ring (network.md §9, process.md §5.4):
 *   struct osh_denial_event    one denied connection or request (§9.1);
 *   struct osh_activity_event  one network decision, allowed or denied (§9.3).
 *
 * Both are fixed-size and self-contained: no pointers, every string an
 * inline NUL-terminated array.  They are copied by value through the ring,
 * so a producer never allocates and the consumer never frees.  Strings that
 * do not fit are cut at a UTF-8 character boundary and `truncated` is set.
 *
 * THREADS: every function here is reentrant, allocates nothing, takes no
 * lock and touches no global state; all may run on the data path.
 */
#ifndef OSH_EVENTS_H
#define OSH_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where a denial happened (DenialEvent.denial_stage). */
enum osh_denial_stage {
    OSH_STAGE_CONNECT,         /* CONNECT L4 policy (or identity) deny */
    OSH_STAGE_FORWARD,         /* forward-proxy L4 policy (or identity) deny */
    OSH_STAGE_FORWARD_L7_DENY, /* forward-proxy L7 enforce deny */
    OSH_STAGE_SSRF,            /* SSRF / destination validation, either path */
    OSH_STAGE_BYPASS,          /* process side: direct connection hit nftables */
};

#define OSH_DENIAL_HOST_MAX 256
#define OSH_DENIAL_BINARY_MAX 256
#define OSH_DENIAL_ANCESTORS_MAX 1024
#define OSH_DENIAL_REASON_MAX 1024
#define OSH_DENIAL_L7_METHOD_MAX 16
#define OSH_DENIAL_L7_PATH_MAX 512

/* The ancestor chain is joined with this separator, nearest parent first. */
#define OSH_ANCESTOR_SEP " -> "

struct osh_denial_event {
    uint64_t time_ms; /* wall clock, ms since the epoch */
    uint32_t pid;     /* acting process, 0 if unknown */
    uint16_t port;    /* destination port */
    enum osh_denial_stage stage;
    char host[OSH_DENIAL_HOST_MAX];           /* lower-cased host; IP for bypass */
    char binary[OSH_DENIAL_BINARY_MAX];       /* exe path, "-" if unknown */
    char ancestors[OSH_DENIAL_ANCESTORS_MAX]; /* " -> " joined, nearest first */
    char deny_reason[OSH_DENIAL_REASON_MAX];  /* OPA / SSRF / identity reason */
    char l7_method[OSH_DENIAL_L7_METHOD_MAX]; /* "" if none */
    char l7_path[OSH_DENIAL_L7_PATH_MAX];     /* "" if none; redacted, no query */
    bool truncated;                           /* some string above was cut to fit */
};

/* Groups of the activity summary (network.md §9.3). */
enum osh_deny_group {
    OSH_DENY_GROUP_CONNECT_POLICY,
    OSH_DENY_GROUP_FORWARD_POLICY,
    OSH_DENY_GROUP_SSRF,
    OSH_DENY_GROUP_L7_POLICY,
    OSH_DENY_GROUP_L7_PARSE_REJECTION,
    OSH_DENY_GROUP_POLICY_STALE,
    OSH_DENY_GROUP_BYPASS,
    OSH_DENY_GROUP_UNKNOWN, /* also: every allowed decision */
};

/* Number of enum osh_deny_group values, for per-group counter arrays. */
#define OSH_DENY_GROUP_COUNT 8

struct osh_activity_event {
    uint64_t time_ms;
    bool denied;
    enum osh_deny_group group;
};

/*
 * "connect", "forward", "forward-l7-deny", "ssrf" or "bypass"; "unknown" for
 * a value outside the enum.  Returns a string literal.
 */
const char *osh_denial_stage_name(enum osh_denial_stage stage);

/*
 * "connect_policy", "forward_policy", "ssrf", "l7_policy",
 * "l7_parse_rejection", "policy_stale", "bypass" or "unknown" (also for a
 * value outside the enum).  Returns a string literal.
 */
const char *osh_deny_group_name(enum osh_deny_group group);

/*
 * The aggregator's allowlist (network.md §9.3): maps a free-form group label
 * to a group.  connect | l4_deny | connect_policy -> CONNECT_POLICY;
 * forward | forward_policy -> FORWARD_POLICY; l7 | l7_deny | l7_policy |
 * forward-l7-deny -> L7_POLICY; parse_rejection | l7_parse_rejection ->
 * L7_PARSE_REJECTION; ssrf, bypass, policy_stale -> themselves; anything
 * else, NULL included -> UNKNOWN.  Exact, case-sensitive match.
 */
enum osh_deny_group osh_deny_group_sanitize(const char *label);

/* The activity group a denial stage reports under (connect -> connect_policy,
 * forward -> forward_policy, forward-l7-deny -> l7_policy, ssrf, bypass). */
enum osh_deny_group osh_deny_group_from_stage(enum osh_denial_stage stage);

/*
 * Fills `ev` (zeroing it first): stage, host, port, binary, the ancestor
 * chain joined with " -> " (nearest first), reason; time_ms = now
 * (CLOCK_REALTIME), pid = 0 and no L7 fields (set them afterwards).
 * NULL strings count as ""; a NULL or empty `binary` becomes "-".
 * Every copy is bounded and NUL-terminated; text that does not fit is cut at
 * a UTF-8 boundary and ev->truncated is set (not an error).  Copies
 * everything; keeps no pointer.  Any thread, data path: no allocation.
 * Returns 0, or -EINVAL if ev is NULL, stage is out of range, or ancestors
 * is NULL while n_ancestors > 0 (ev is then left zeroed if non-NULL).
 */
int osh_denial_event_init(struct osh_denial_event *ev, enum osh_denial_stage stage,
                          const char *host, uint16_t port, const char *binary,
                          const char *const *ancestors, size_t n_ancestors, const char *reason);

/*
 * Sets the L7 method and path (bounded copies as above; NULL clears).
 * The path must already be redacted (no query string, no secrets).
 * Returns 0, or -EINVAL if ev is NULL.
 */
int osh_denial_event_set_l7(struct osh_denial_event *ev, const char *method, const char *path);

/*
 * Receiver-side check of an event read from a ring: stage in range and
 * every string NUL-terminated inside its array.  Returns 0 or -EBADMSG.
 */
int osh_denial_event_check(const struct osh_denial_event *ev);

#endif /* OSH_EVENTS_H */
