/*
 * ocsf.h - OCSF v1.7.0 events (control-plane.md §2): one struct describing an
 * event, its JSON form (built with jansson, never by hand), its JSONL line,
 * and the one-line shorthand used in openshell.log and the gRPC log push.
 *
 * LIFECYCLE
 *   Fill a struct osh_ocsf_event (designated initializers; everything not
 *   set is absent), then call osh_ocsf_to_json() / osh_ocsf_jsonl() /
 *   osh_ocsf_shorthand() / osh_ocsf_log_line() as often as needed.  The
 *   struct owns nothing: every `const char *` and array is borrowed by the
 *   calls for their duration only.  NULL means "absent" for every pointer.
 *   The struct osh_ocsf_context is built once by service/ at start-up.
 *
 * THREADS
 *   Every function is reentrant (no global or static mutable state) and may
 *   run on any thread.  osh_ocsf_shorthand() and osh_ocsf_log_line() write
 *   into a caller buffer and do not allocate; the JSON functions allocate.
 *
 * SECRETS
 *   Nothing here logs.  Callers must pass redacted text (no query strings,
 *   bearer tokens or credentials) in message, status_detail, URLs and paths.
 */
#ifndef OSH_OCSF_H
#define OSH_OCSF_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "osh/events.h"

/* OCSF schema version written to metadata.version. */
#define OSH_OCSF_VERSION "1.7.0"
#define OSH_OCSF_PRODUCT_NAME "OpenShell Sandbox Supervisor"
#define OSH_OCSF_VENDOR_NAME "OpenShell"

/* Caps of the shorthand's [reason:...] and [msg:...] text, in bytes (cut at
 * a UTF-8 boundary, then "..." appended). */
#define OSH_OCSF_REASON_CAP 256
#define OSH_OCSF_MSG_CAP 120

/* class_uid; the category follows from the class. */
enum osh_ocsf_class {
    OSH_OCSF_CLASS_BASE = 0,         /* Base Event, 0 Uncategorized; shorthand EVENT */
    OSH_OCSF_CLASS_PROCESS = 1007,   /* Process Activity, 1 System Activity; PROC: */
    OSH_OCSF_CLASS_FINDING = 2004,   /* Detection Finding, 2 Findings; FINDING: */
    OSH_OCSF_CLASS_NETWORK = 4001,   /* Network Activity, 4 Network Activity; NET: */
    OSH_OCSF_CLASS_HTTP = 4002,      /* HTTP Activity, 4 Network Activity; HTTP: */
    OSH_OCSF_CLASS_SSH = 4007,       /* SSH Activity, 4 Network Activity; SSH: */
    OSH_OCSF_CLASS_CONFIG = 5019,    /* Device Config State Change, 5 Discovery; CONFIG: */
    OSH_OCSF_CLASS_LIFECYCLE = 6002, /* Application Lifecycle, 6 Application Activity */
};

/*
 * activity_id values.  One number space, labelled per class (see
 * osh_ocsf_activity_name()); 0 is Unknown and 99 Other in every class.
 */
#define OSH_OCSF_ACTIVITY_UNKNOWN 0
#define OSH_OCSF_ACTIVITY_OTHER 99
enum osh_ocsf_net_activity { /* Network and SSH */
                             OSH_OCSF_NET_OPEN = 1,
                             OSH_OCSF_NET_CLOSE = 2,
                             OSH_OCSF_NET_RESET = 3,
                             OSH_OCSF_NET_FAIL = 4,
                             OSH_OCSF_NET_REFUSE = 5,
                             OSH_OCSF_NET_TRAFFIC = 6,
                             OSH_OCSF_NET_LISTEN = 7,
};
enum osh_ocsf_http_activity {
    OSH_OCSF_HTTP_CONNECT = 1,
    OSH_OCSF_HTTP_DELETE = 2,
    OSH_OCSF_HTTP_GET = 3,
    OSH_OCSF_HTTP_HEAD = 4,
    OSH_OCSF_HTTP_OPTIONS = 5,
    OSH_OCSF_HTTP_POST = 6,
    OSH_OCSF_HTTP_PUT = 7,
    OSH_OCSF_HTTP_TRACE = 8,
    OSH_OCSF_HTTP_PATCH = 9,
};
enum osh_ocsf_finding_activity {
    OSH_OCSF_FINDING_CREATE = 1,
    OSH_OCSF_FINDING_UPDATE = 2,
    OSH_OCSF_FINDING_CLOSE = 3,
};
enum osh_ocsf_lifecycle_activity {
    OSH_OCSF_LIFECYCLE_INSTALL = 1,
    OSH_OCSF_LIFECYCLE_REMOVE = 2,
    OSH_OCSF_LIFECYCLE_START = 3,
    OSH_OCSF_LIFECYCLE_STOP = 4,
    OSH_OCSF_LIFECYCLE_RESTART = 5,
    OSH_OCSF_LIFECYCLE_ENABLE = 6,
    OSH_OCSF_LIFECYCLE_DISABLE = 7,
    OSH_OCSF_LIFECYCLE_UPDATE = 8,
};
enum osh_ocsf_config_activity {
    OSH_OCSF_CONFIG_LOG = 1, /* the only one used */
};
enum osh_ocsf_process_activity {
    OSH_OCSF_PROC_LAUNCH = 1,
    OSH_OCSF_PROC_TERMINATE = 2,
    OSH_OCSF_PROC_OPEN = 3,
    OSH_OCSF_PROC_INJECT = 4,
    OSH_OCSF_PROC_SET_USER_ID = 5,
};

enum osh_ocsf_severity {
    OSH_OCSF_SEV_UNKNOWN = 0,
    OSH_OCSF_SEV_INFO = 1,
    OSH_OCSF_SEV_LOW = 2,
    OSH_OCSF_SEV_MEDIUM = 3,
    OSH_OCSF_SEV_HIGH = 4,
    OSH_OCSF_SEV_CRITICAL = 5,
    OSH_OCSF_SEV_FATAL = 6,
    OSH_OCSF_SEV_OTHER = 99,
};

enum osh_ocsf_action {
    OSH_OCSF_ACTION_UNKNOWN = 0,
    OSH_OCSF_ACTION_ALLOWED = 1,
    OSH_OCSF_ACTION_DENIED = 2,
    OSH_OCSF_ACTION_OBSERVED = 3,
    OSH_OCSF_ACTION_MODIFIED = 4,
    OSH_OCSF_ACTION_OTHER = 99,
};

/* The full OCSF disposition list. */
enum osh_ocsf_disposition {
    OSH_OCSF_DISP_UNKNOWN = 0,
    OSH_OCSF_DISP_ALLOWED = 1,
    OSH_OCSF_DISP_BLOCKED = 2,
    OSH_OCSF_DISP_QUARANTINED = 3,
    OSH_OCSF_DISP_ISOLATED = 4,
    OSH_OCSF_DISP_DELETED = 5,
    OSH_OCSF_DISP_DROPPED = 6,
    OSH_OCSF_DISP_CUSTOM_ACTION = 7,
    OSH_OCSF_DISP_APPROVED = 8,
    OSH_OCSF_DISP_RESTORED = 9,
    OSH_OCSF_DISP_EXONERATED = 10,
    OSH_OCSF_DISP_CORRECTED = 11,
    OSH_OCSF_DISP_PARTIALLY_CORRECTED = 12,
    OSH_OCSF_DISP_UNCORRECTED = 13,
    OSH_OCSF_DISP_DELAYED = 14,
    OSH_OCSF_DISP_DETECTED = 15,
    OSH_OCSF_DISP_NO_ACTION = 16,
    OSH_OCSF_DISP_LOGGED = 17,
    OSH_OCSF_DISP_TAGGED = 18,
    OSH_OCSF_DISP_ALERT = 19,
    OSH_OCSF_DISP_COUNT = 20,
    OSH_OCSF_DISP_RESET = 21,
    OSH_OCSF_DISP_CAPTCHA = 22,
    OSH_OCSF_DISP_CHALLENGE = 23,
    OSH_OCSF_DISP_ACCESS_REVOKED = 24,
    OSH_OCSF_DISP_REJECTED = 25,
    OSH_OCSF_DISP_UNAUTHORIZED = 26,
    OSH_OCSF_DISP_ERROR = 27,
    OSH_OCSF_DISP_OTHER = 99,
};

enum osh_ocsf_status {
    OSH_OCSF_STATUS_UNKNOWN = 0,
    OSH_OCSF_STATUS_SUCCESS = 1,
    OSH_OCSF_STATUS_FAILURE = 2,
    OSH_OCSF_STATUS_OTHER = 99,
};

enum osh_ocsf_state { /* config state_id */
                      OSH_OCSF_STATE_UNKNOWN = 0,
                      OSH_OCSF_STATE_DISABLED = 1,
                      OSH_OCSF_STATE_ENABLED = 2,
                      OSH_OCSF_STATE_OTHER = 99,
};

enum osh_ocsf_confidence {
    OSH_OCSF_CONFIDENCE_UNKNOWN = 0,
    OSH_OCSF_CONFIDENCE_LOW = 1,
    OSH_OCSF_CONFIDENCE_MEDIUM = 2,
    OSH_OCSF_CONFIDENCE_HIGH = 3,
    OSH_OCSF_CONFIDENCE_OTHER = 99,
};

enum osh_ocsf_risk_level {
    OSH_OCSF_RISK_INFO = 0,
    OSH_OCSF_RISK_LOW = 1,
    OSH_OCSF_RISK_MEDIUM = 2,
    OSH_OCSF_RISK_HIGH = 3,
    OSH_OCSF_RISK_CRITICAL = 4,
    OSH_OCSF_RISK_OTHER = 99,
};

enum osh_ocsf_security_level {
    OSH_OCSF_SECLEVEL_UNKNOWN = 0,
    OSH_OCSF_SECLEVEL_SECURE = 1,
    OSH_OCSF_SECLEVEL_AT_RISK = 2,
    OSH_OCSF_SECLEVEL_COMPROMISED = 3,
    OSH_OCSF_SECLEVEL_OTHER = 99,
};

enum osh_ocsf_launch_type {
    OSH_OCSF_LAUNCH_UNKNOWN = 0,
    OSH_OCSF_LAUNCH_SPAWN = 1,
    OSH_OCSF_LAUNCH_FORK = 2,
    OSH_OCSF_LAUNCH_EXEC = 3,
    OSH_OCSF_LAUNCH_OTHER = 99,
};

enum osh_ocsf_auth_type { /* SSH auth_type_id */
                          OSH_OCSF_AUTH_UNKNOWN = 0,
                          OSH_OCSF_AUTH_CERTIFICATE = 1,
                          OSH_OCSF_AUTH_GSSAPI = 2,
                          OSH_OCSF_AUTH_HOST_BASED = 3,
                          OSH_OCSF_AUTH_KEYBOARD_INTERACTIVE = 4,
                          OSH_OCSF_AUTH_PASSWORD = 5,
                          OSH_OCSF_AUTH_PUBLIC_KEY = 6,
                          OSH_OCSF_AUTH_OTHER = 99,
};

/* A string key/value pair (evidences, unmapped). */
struct osh_ocsf_kv {
    const char *key;
    const char *value;
};

/* An endpoint: present when domain or ip is set. */
struct osh_ocsf_endpoint {
    const char *domain; /* host name; preferred over ip in the shorthand */
    const char *ip;     /* IP literal */
    uint16_t port;      /* 0: no port */
};

/* A process: present when name is set. */
struct osh_ocsf_process {
    const char *name; /* shown as <name>(<pid>); usually the exe path */
    const char *path;
    uint32_t pid;
    const char *cmd_line;
    /* Ancestor exe paths joined with " -> ", nearest first (the format of
     * struct osh_denial_event); becomes a nested parent_process chain.
     * NULL, "" or "-" means none. */
    const char *ancestors;
};

/*
 * One event.  Optional ids carry a has_* flag because 0 (Unknown) is a real
 * OCSF value; a zero-initialised struct is therefore "everything absent".
 * Class-specific members are ignored by the other classes.
 */
struct osh_ocsf_event {
    enum osh_ocsf_class class_uid;
    uint8_t activity_id;
    const char *activity_name; /* NULL: the class's label for activity_id */
    enum osh_ocsf_severity severity_id;
    uint64_t time_ms; /* ms since the epoch; 0: the current time */

    bool has_status;
    enum osh_ocsf_status status_id;
    bool has_action;
    enum osh_ocsf_action action_id;
    bool has_disposition;
    enum osh_ocsf_disposition disposition_id;

    const char *message;
    const char *status_detail; /* deny reason */
    const char *log_source;    /* metadata.log_source, e.g. "/dev/kmsg" */

    /* NETWORK, HTTP, SSH */
    struct osh_ocsf_endpoint src;
    struct osh_ocsf_endpoint dst;
    struct {
        const char *name; /* policy name; "-" when none matched */
        const char *type; /* engine: opa, ssrf, l7, nftables, ... */
    } firewall_rule;      /* present when name or type is set (NETWORK, HTTP) */
    const char *protocol; /* connection_info.protocol_name, e.g. "tcp" (NETWORK) */
    bool has_observation_point;
    uint8_t observation_point_id;

    /* actor.process (NETWORK, HTTP, SSH, PROCESS) */
    struct osh_ocsf_process actor;

    /* HTTP: http_request{http_method, url{scheme, hostname, path, port}} */
    struct {
        const char *method;     /* NULL: "UNKNOWN" in the shorthand */
        const char *scheme;     /* NULL: "https" in the shorthand */
        const char *hostname;   /* NULL: "unknown" in the shorthand */
        const char *path;       /* NULL: "/" in the shorthand; redacted */
        uint16_t port;          /* 0: none; shown when not the scheme default */
        uint16_t response_code; /* 0: no http_response */
    } http;

    /* SSH */
    struct {
        bool has_auth_type;
        enum osh_ocsf_auth_type auth_type_id;
        const char *auth_label; /* custom label shown as [auth:...], e.g. "NSSH1" */
        const char *protocol_ver;
    } ssh;

    /* PROCESS: the process acted upon, and the outcome */
    struct {
        struct osh_ocsf_process process;
        bool has_launch_type;
        enum osh_ocsf_launch_type launch_type_id;
        bool has_exit_code;
        int exit_code;
    } proc;

    /* FINDING */
    struct {
        const char *uid;   /* NULL: "unknown" */
        const char *title; /* NULL: "Unknown Finding" */
        const char *desc;
        const char *remediation; /* remediation.desc */
        bool is_alert;
        bool has_confidence;
        enum osh_ocsf_confidence confidence_id;
        bool has_risk_level;
        enum osh_ocsf_risk_level risk_level_id;
        const struct osh_ocsf_kv *evidences; /* one evidence object, data{k: v...} */
        size_t n_evidences;
    } finding;

    /* CONFIG */
    struct {
        bool has_state;
        enum osh_ocsf_state state_id;
        const char *state_label; /* custom label: loaded, failed, APPROVED, ... */
        bool has_security_level;
        enum osh_ocsf_security_level security_level_id;
        bool has_prev_security_level;
        enum osh_ocsf_security_level prev_security_level_id;
    } config;

    /* LIFECYCLE: app.name (NULL: "openshell-sandbox") */
    const char *app_name;

    /* unmapped: string pairs, kept in this order.  CONFIG's shorthand reads
     * auto, source, prover_delta, resolved_from, policy_version,
     * policy_hash; EVENT's shows the first three. */
    const struct osh_ocsf_kv *unmapped;
    size_t n_unmapped;
};

/* Built once per process (control-plane.md §2.4).  NULL fields are omitted
 * from the JSON.  Passing a NULL context uses the fallback: empty ids,
 * hostname "test", proxy 127.0.0.1:3128. */
struct osh_ocsf_context {
    const char *sandbox_id;
    const char *sandbox_name;
    const char *container_image;
    const char *hostname;
    const char *product_version;
    const char *proxy_ip;
    uint16_t proxy_port;
};

/*
 * Labels.  All return string literals and never NULL: an id outside the
 * known set gives "Unknown" ("Other" for 99).
 */
const char *osh_ocsf_class_name(enum osh_ocsf_class c);    /* "Network Activity" */
const char *osh_ocsf_category_name(enum osh_ocsf_class c); /* "Network Activity" */
unsigned osh_ocsf_category_uid(enum osh_ocsf_class c);     /* 4 */
const char *osh_ocsf_activity_name(enum osh_ocsf_class c, unsigned activity_id); /* "Open" */
const char *osh_ocsf_severity_name(enum osh_ocsf_severity s);                    /* "Medium" */
const char *osh_ocsf_severity_tag(enum osh_ocsf_severity s);                     /* "[MED]" */
const char *osh_ocsf_action_name(enum osh_ocsf_action a);                        /* "Denied" */
const char *osh_ocsf_disposition_name(enum osh_ocsf_disposition d);              /* "Blocked" */
const char *osh_ocsf_status_name(enum osh_ocsf_status s);                        /* "Failure" */
const char *osh_ocsf_state_name(enum osh_ocsf_state s);                          /* "Enabled" */
const char *osh_ocsf_confidence_name(enum osh_ocsf_confidence c);                /* "High" */
const char *osh_ocsf_risk_level_name(enum osh_ocsf_risk_level r);                /* "High" */
const char *osh_ocsf_security_level_name(enum osh_ocsf_security_level s);        /* "At Risk" */
const char *osh_ocsf_launch_type_name(enum osh_ocsf_launch_type l);              /* "Spawn" */
const char *osh_ocsf_auth_type_name(enum osh_ocsf_auth_type a);                  /* "Public Key" */

/*
 * Builds the OCSF JSON object.  Base fields come first, in the documented
 * order (class_uid, class_name, category_uid, category_name, activity_id,
 * activity_name, type_uid, type_name, time, severity_id, severity,
 * [status_id, status], [message], [status_detail], metadata, device,
 * container, [unmapped]), then the class's own fields.  type_uid is
 * class_uid * 100 + activity_id; type_name is "<Class>: <Activity>".
 * Strings that are not valid UTF-8 are repaired (bad bytes -> '?').
 * Returns a new reference (caller json_decref()s), or NULL with errno
 * EINVAL (ev NULL, unknown class) or ENOMEM.
 */
json_t *osh_ocsf_to_json(const struct osh_ocsf_event *ev, const struct osh_ocsf_context *ctx);

/*
 * One JSONL line: the object above dumped with JSON_PRESERVE_ORDER |
 * JSON_COMPACT, then "\n", NUL-terminated.  On success *line_out is a
 * malloc'd string the caller free()s.  Returns 0, -EINVAL or -ENOMEM
 * (*line_out is then NULL).
 */
int osh_ocsf_jsonl(const struct osh_ocsf_event *ev, const struct osh_ocsf_context *ctx,
                   char **line_out);

/*
 * Writes the shorthand (control-plane.md §2.3), e.g.
 *   NET:OPEN [MED] DENIED /usr/bin/curl(64) -> httpbin.org:443 [policy:- engine:opa]
 *   [reason:no matching policy]
 * into buf (len bytes), NUL-terminated.  Newlines and carriage returns in
 * any field become spaces.  The [reason:] text (DENIED only) is capped at
 * OSH_OCSF_REASON_CAP bytes and [msg:] at OSH_OCSF_MSG_CAP, cut at a UTF-8
 * boundary with "..." appended.  Returns 0; -ENOSPC if buf was too small
 * (buf then holds the line cut at a UTF-8 boundary, still NUL-terminated,
 * when len > 0); -EINVAL if ev or buf is NULL or the class is unknown.
 * No allocation.
 */
int osh_ocsf_shorthand(const struct osh_ocsf_event *ev, char *buf, size_t len);

/*
 * The openshell.log / stderr line: "<YYYY-MM-DDTHH:MM:SS.mmm>Z OCSF <shorthand>"
 * using ev->time_ms (UTC; 0 means now), without a trailing newline.  Same
 * returns and truncation rules as osh_ocsf_shorthand().
 */
int osh_ocsf_log_line(const struct osh_ocsf_event *ev, char *buf, size_t len);

/*
 * Maps a denial event to its OCSF event (control-plane.md §2.1 conventions):
 *   connect -> NET Open, Denied/Blocked, Medium, Failure, firewall_rule{"-", "opa"}
 *   ssrf    -> NET Open, Denied/Blocked, Medium, Failure, firewall_rule{"-", "ssrf"}
 *   forward -> HTTP Other, Denied/Blocked, Medium, Failure, firewall_rule{"-", "opa"}
 *   forward-l7-deny -> HTTP Other, Denied/Blocked, Medium, Failure, {"-", "l7"}
 *   bypass  -> NET Refuse, Denied/Blocked, Medium, firewall_rule{"bypass-detect",
 *              "nftables"}, observation point 3, dst as an IP when it parses as one
 * status_detail = deny_reason; actor = binary(pid) with the ancestor chain;
 * time from the event.  `out` is overwritten and BORROWS d's strings: it is
 * valid only while *d is alive and unchanged.  Returns 0, or -EINVAL if d or
 * out is NULL or d->stage is out of range.
 */
int osh_ocsf_from_denial(const struct osh_denial_event *d, struct osh_ocsf_event *out);

#endif /* OSH_OCSF_H */
