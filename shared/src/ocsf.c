/*
 * ocsf.c - OCSF v1.7.0 labels, the JSON encoder (jansson) and the mapping
 * from a denial event.  The shorthand text form is in ocsf_shorthand.c.
 *
 * DESIGN
 *   The JSON object is built key by key with json_object_set_new() in the
 *   documented order; jansson (>= 2.8) keeps insertion order, and the dump
 *   uses JSON_PRESERVE_ORDER anyway.  Allocation failures do not branch at
 *   every key: the builder records the first failure in `struct jb` and the
 *   function checks it once before returning (one cleanup path).
 *   jansson refuses strings that are not valid UTF-8; since hosts, paths and
 *   process names can come from the sandboxed workload, such strings are
 *   repaired (invalid bytes -> '?') instead of failing the whole event.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "osh/ocsf.h"

/* Deepest parent_process chain we build from an ancestor string. */
#define OCSF_MAX_ANCESTORS 64

/* The JSON builder's error latch. */
struct jb {
    bool failed;
};

static size_t utf8_seq_len(const unsigned char *s, size_t n);
static json_t *jstrn(const char *s, size_t n);
static json_t *jstr(const char *s);
static void put(struct jb *b, json_t *obj, const char *key, json_t *val);
static void put_str(struct jb *b, json_t *obj, const char *key, const char *s);
static void put_int(struct jb *b, json_t *obj, const char *key, json_int_t v);
static bool endpoint_present(const struct osh_ocsf_endpoint *ep);
static json_t *endpoint_json(struct jb *b, const struct osh_ocsf_endpoint *ep);
static json_t *process_json(struct jb *b, const struct osh_ocsf_process *p, const char *dflt);
static json_t *actor_json(struct jb *b, const struct osh_ocsf_process *p);
static json_t *profiles_json(struct jb *b, enum osh_ocsf_class c);
static json_t *type_name_json(const char *cls, const char *act);
static void put_base(struct jb *b, json_t *o, const struct osh_ocsf_event *ev,
                     const struct osh_ocsf_context *ctx);
static void put_action_disposition(struct jb *b, json_t *o, const struct osh_ocsf_event *ev);
static void put_flow(struct jb *b, json_t *o, const struct osh_ocsf_event *ev,
                     const struct osh_ocsf_context *ctx);
static void put_network(struct jb *b, json_t *o, const struct osh_ocsf_event *ev,
                        const struct osh_ocsf_context *ctx);
static void put_http(struct jb *b, json_t *o, const struct osh_ocsf_event *ev,
                     const struct osh_ocsf_context *ctx);
static void put_ssh(struct jb *b, json_t *o, const struct osh_ocsf_event *ev);
static void put_process(struct jb *b, json_t *o, const struct osh_ocsf_event *ev);
static void put_finding(struct jb *b, json_t *o, const struct osh_ocsf_event *ev);
static void put_config(struct jb *b, json_t *o, const struct osh_ocsf_event *ev);
static void put_lifecycle(struct jb *b, json_t *o, const struct osh_ocsf_event *ev,
                          const struct osh_ocsf_context *ctx);
static bool class_known(enum osh_ocsf_class c);
static uint64_t now_ms(void);

/* Used when the caller passes no context (unit tests, early start-up), as the
 * reference's fallback SandboxContext: empty ids, hostname "test", the
 * hardcoded proxy address. */
static const struct osh_ocsf_context fallback_ctx = {
    .sandbox_id = "",
    .sandbox_name = "",
    .container_image = "",
    .hostname = "test",
    .product_version = "0.0.0",
    .proxy_ip = "127.0.0.1",
    .proxy_port = 3128,
};

/* ---- labels -------------------------------------------------------------
 * Switches rather than tables where the ids are an enum, so -Wswitch-enum
 * flags a label forgotten when an enumerator is added.  Unknown values map
 * to "Unknown" instead of NULL: the labels go straight into JSON and logs.
 */

static bool
class_known(enum osh_ocsf_class c)
{
    switch (c) {
    case OSH_OCSF_CLASS_BASE:
    case OSH_OCSF_CLASS_PROCESS:
    case OSH_OCSF_CLASS_FINDING:
    case OSH_OCSF_CLASS_NETWORK:
    case OSH_OCSF_CLASS_HTTP:
    case OSH_OCSF_CLASS_SSH:
    case OSH_OCSF_CLASS_CONFIG:
    case OSH_OCSF_CLASS_LIFECYCLE:
        return true;
    }
    return false;
}

const char *
osh_ocsf_class_name(enum osh_ocsf_class c)
{
    switch (c) {
    case OSH_OCSF_CLASS_BASE:
        return "Base Event";
    case OSH_OCSF_CLASS_PROCESS:
        return "Process Activity";
    case OSH_OCSF_CLASS_FINDING:
        return "Detection Finding";
    case OSH_OCSF_CLASS_NETWORK:
        return "Network Activity";
    case OSH_OCSF_CLASS_HTTP:
        return "HTTP Activity";
    case OSH_OCSF_CLASS_SSH:
        return "SSH Activity";
    case OSH_OCSF_CLASS_CONFIG:
        return "Device Config State Change";
    case OSH_OCSF_CLASS_LIFECYCLE:
        return "Application Lifecycle";
    }
    return "Unknown";
}

unsigned
osh_ocsf_category_uid(enum osh_ocsf_class c)
{
    return class_known(c) ? (unsigned)c / 1000u : 0u;
}

const char *
osh_ocsf_category_name(enum osh_ocsf_class c)
{
    switch (c) {
    case OSH_OCSF_CLASS_BASE:
        return "Uncategorized";
    case OSH_OCSF_CLASS_PROCESS:
        return "System Activity";
    case OSH_OCSF_CLASS_FINDING:
        return "Findings";
    case OSH_OCSF_CLASS_NETWORK:
    case OSH_OCSF_CLASS_HTTP:
    case OSH_OCSF_CLASS_SSH:
        return "Network Activity";
    case OSH_OCSF_CLASS_CONFIG:
        return "Discovery";
    case OSH_OCSF_CLASS_LIFECYCLE:
        return "Application Activity";
    }
    return "Unknown";
}

/* One id space, labelled per class (control-plane.md §2.1).  Network and SSH
 * share the labels; the 8/9 (Trace/Patch) network labels are listed there
 * too, so we keep them.  Base events use 99 with a custom activity_name. */
const char *
osh_ocsf_activity_name(enum osh_ocsf_class c, unsigned id)
{
    static const char *const net[] = {"Unknown", "Open",    "Close",  "Reset", "Fail",
                                      "Refuse",  "Traffic", "Listen", "Trace", "Patch"};
    static const char *const http[] = {"Unknown", "Connect", "Delete", "Get",   "Head",
                                       "Options", "Post",    "Put",    "Trace", "Patch"};
    static const char *const finding[] = {"Unknown", "Create", "Update", "Close"};
    static const char *const lifecycle[] = {"Unknown", "Install", "Remove",  "Start", "Stop",
                                            "Restart", "Enable",  "Disable", "Update"};
    static const char *const config[] = {"Unknown", "Log"};
    static const char *const process[] = {"Unknown", "Launch", "Terminate",
                                          "Open",    "Inject", "Set User ID"};
    const char *const *tab = NULL;
    size_t n = 0;

    if (id == OSH_OCSF_ACTIVITY_OTHER)
        return "Other";
    switch (c) {
    case OSH_OCSF_CLASS_NETWORK:
    case OSH_OCSF_CLASS_SSH:
        tab = net;
        n = sizeof(net) / sizeof(net[0]);
        break;
    case OSH_OCSF_CLASS_HTTP:
        tab = http;
        n = sizeof(http) / sizeof(http[0]);
        break;
    case OSH_OCSF_CLASS_FINDING:
        tab = finding;
        n = sizeof(finding) / sizeof(finding[0]);
        break;
    case OSH_OCSF_CLASS_LIFECYCLE:
        tab = lifecycle;
        n = sizeof(lifecycle) / sizeof(lifecycle[0]);
        break;
    case OSH_OCSF_CLASS_CONFIG:
        tab = config;
        n = sizeof(config) / sizeof(config[0]);
        break;
    case OSH_OCSF_CLASS_PROCESS:
        tab = process;
        n = sizeof(process) / sizeof(process[0]);
        break;
    case OSH_OCSF_CLASS_BASE:
        break;
    }
    return tab != NULL && id < n ? tab[id] : "Unknown";
}

const char *
osh_ocsf_severity_name(enum osh_ocsf_severity s)
{
    switch (s) {
    case OSH_OCSF_SEV_UNKNOWN:
        return "Unknown";
    case OSH_OCSF_SEV_INFO:
        return "Informational";
    case OSH_OCSF_SEV_LOW:
        return "Low";
    case OSH_OCSF_SEV_MEDIUM:
        return "Medium";
    case OSH_OCSF_SEV_HIGH:
        return "High";
    case OSH_OCSF_SEV_CRITICAL:
        return "Critical";
    case OSH_OCSF_SEV_FATAL:
        return "Fatal";
    case OSH_OCSF_SEV_OTHER:
        return "Other";
    }
    return "Unknown";
}

const char *
osh_ocsf_severity_tag(enum osh_ocsf_severity s)
{
    switch (s) {
    case OSH_OCSF_SEV_LOW:
        return "[LOW]";
    case OSH_OCSF_SEV_MEDIUM:
        return "[MED]";
    case OSH_OCSF_SEV_HIGH:
        return "[HIGH]";
    case OSH_OCSF_SEV_CRITICAL:
        return "[CRIT]";
    case OSH_OCSF_SEV_FATAL:
        return "[FATAL]";
    case OSH_OCSF_SEV_UNKNOWN:
    case OSH_OCSF_SEV_INFO:
    case OSH_OCSF_SEV_OTHER:
        return "[INFO]";
    }
    return "[INFO]";
}

const char *
osh_ocsf_action_name(enum osh_ocsf_action a)
{
    switch (a) {
    case OSH_OCSF_ACTION_UNKNOWN:
        return "Unknown";
    case OSH_OCSF_ACTION_ALLOWED:
        return "Allowed";
    case OSH_OCSF_ACTION_DENIED:
        return "Denied";
    case OSH_OCSF_ACTION_OBSERVED:
        return "Observed";
    case OSH_OCSF_ACTION_MODIFIED:
        return "Modified";
    case OSH_OCSF_ACTION_OTHER:
        return "Other";
    }
    return "Unknown";
}

/* The full OCSF 1.7 disposition list is dense from 0 to 27, plus 99. */
const char *
osh_ocsf_disposition_name(enum osh_ocsf_disposition d)
{
    static const char *const names[] = {
        "Unknown",
        "Allowed",
        "Blocked",
        "Quarantined",
        "Isolated",
        "Deleted",
        "Dropped",
        "Custom Action",
        "Approved",
        "Restored",
        "Exonerated",
        "Corrected",
        "Partially Corrected",
        "Uncorrected",
        "Delayed",
        "Detected",
        "No Action",
        "Logged",
        "Tagged",
        "Alert",
        "Count",
        "Reset",
        "Captcha",
        "Challenge",
        "Access Revoked",
        "Rejected",
        "Unauthorized",
        "Error",
    };

    if (d == OSH_OCSF_DISP_OTHER)
        return "Other";
    if ((unsigned)d < sizeof(names) / sizeof(names[0]))
        return names[d];
    return "Unknown";
}

const char *
osh_ocsf_status_name(enum osh_ocsf_status s)
{
    switch (s) {
    case OSH_OCSF_STATUS_UNKNOWN:
        return "Unknown";
    case OSH_OCSF_STATUS_SUCCESS:
        return "Success";
    case OSH_OCSF_STATUS_FAILURE:
        return "Failure";
    case OSH_OCSF_STATUS_OTHER:
        return "Other";
    }
    return "Unknown";
}

const char *
osh_ocsf_state_name(enum osh_ocsf_state s)
{
    switch (s) {
    case OSH_OCSF_STATE_UNKNOWN:
        return "Unknown";
    case OSH_OCSF_STATE_DISABLED:
        return "Disabled";
    case OSH_OCSF_STATE_ENABLED:
        return "Enabled";
    case OSH_OCSF_STATE_OTHER:
        return "Other";
    }
    return "Unknown";
}

const char *
osh_ocsf_confidence_name(enum osh_ocsf_confidence c)
{
    switch (c) {
    case OSH_OCSF_CONFIDENCE_UNKNOWN:
        return "Unknown";
    case OSH_OCSF_CONFIDENCE_LOW:
        return "Low";
    case OSH_OCSF_CONFIDENCE_MEDIUM:
        return "Medium";
    case OSH_OCSF_CONFIDENCE_HIGH:
        return "High";
    case OSH_OCSF_CONFIDENCE_OTHER:
        return "Other";
    }
    return "Unknown";
}

const char *
osh_ocsf_risk_level_name(enum osh_ocsf_risk_level r)
{
    switch (r) {
    case OSH_OCSF_RISK_INFO:
        return "Info";
    case OSH_OCSF_RISK_LOW:
        return "Low";
    case OSH_OCSF_RISK_MEDIUM:
        return "Medium";
    case OSH_OCSF_RISK_HIGH:
        return "High";
    case OSH_OCSF_RISK_CRITICAL:
        return "Critical";
    case OSH_OCSF_RISK_OTHER:
        return "Other";
    }
    return "Unknown";
}

const char *
osh_ocsf_security_level_name(enum osh_ocsf_security_level s)
{
    switch (s) {
    case OSH_OCSF_SECLEVEL_UNKNOWN:
        return "Unknown";
    case OSH_OCSF_SECLEVEL_SECURE:
        return "Secure";
    case OSH_OCSF_SECLEVEL_AT_RISK:
        return "At Risk";
    case OSH_OCSF_SECLEVEL_COMPROMISED:
        return "Compromised";
    case OSH_OCSF_SECLEVEL_OTHER:
        return "Other";
    }
    return "Unknown";
}

const char *
osh_ocsf_launch_type_name(enum osh_ocsf_launch_type l)
{
    switch (l) {
    case OSH_OCSF_LAUNCH_UNKNOWN:
        return "Unknown";
    case OSH_OCSF_LAUNCH_SPAWN:
        return "Spawn";
    case OSH_OCSF_LAUNCH_FORK:
        return "Fork";
    case OSH_OCSF_LAUNCH_EXEC:
        return "Exec";
    case OSH_OCSF_LAUNCH_OTHER:
        return "Other";
    }
    return "Unknown";
}

const char *
osh_ocsf_auth_type_name(enum osh_ocsf_auth_type a)
{
    switch (a) {
    case OSH_OCSF_AUTH_UNKNOWN:
        return "Unknown";
    case OSH_OCSF_AUTH_CERTIFICATE:
        return "Certificate Based";
    case OSH_OCSF_AUTH_GSSAPI:
        return "GSSAPI";
    case OSH_OCSF_AUTH_HOST_BASED:
        return "Host Based";
    case OSH_OCSF_AUTH_KEYBOARD_INTERACTIVE:
        return "Keyboard Interactive";
    case OSH_OCSF_AUTH_PASSWORD:
        return "Password";
    case OSH_OCSF_AUTH_PUBLIC_KEY:
        return "Public Key";
    case OSH_OCSF_AUTH_OTHER:
        return "Other";
    }
    return "Unknown";
}

/* ---- JSON helpers ------------------------------------------------------- */

/*
 * Length of the well-formed UTF-8 sequence at s (n bytes available), or 0 if
 * the bytes there are not one (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), the same rules jansson applies.
 */
static size_t
utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    }
    return len;
}

/* A JSON string from n bytes of s; invalid UTF-8 bytes become '?'. */
static json_t *
jstrn(const char *s, size_t n)
{
    json_t *v = json_stringn(s, n);
    char *fixed = NULL;

    if (v != NULL)
        return v;
    fixed = malloc(n + 1);
    if (fixed == NULL)
        goto out;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq_len((const unsigned char *)s + i, n - i);

        if (k == 0) {
            fixed[i++] = '?';
        } else {
            memcpy(fixed + i, s + i, k);
            i += k;
        }
    }
    fixed[n] = '\0';
    v = json_stringn(fixed, n);
out:
    free(fixed), fixed = NULL;
    return v;
}

static json_t *
jstr(const char *s)
{
    return jstrn(s, strlen(s));
}

/* Sets obj[key] = val (stealing val); latches failure of either. */
static void
put(struct jb *b, json_t *obj, const char *key, json_t *val)
{
    /* json_object_set_new() fails (and decrefs val) on a NULL obj or val. */
    if (json_object_set_new(obj, key, val) != 0)
        b->failed = true;
}

/* Sets obj[key] = s when s is not NULL. */
static void
put_str(struct jb *b, json_t *obj, const char *key, const char *s)
{
    if (s != NULL)
        put(b, obj, key, jstr(s));
}

static void
put_int(struct jb *b, json_t *obj, const char *key, json_int_t v)
{
    put(b, obj, key, json_integer(v));
}

static bool
endpoint_present(const struct osh_ocsf_endpoint *ep)
{
    return ep->domain != NULL || ep->ip != NULL;
}

/* network_endpoint: ip and/or domain, then port.  A CONNECT host goes in
 * domain even when it is an IP literal (as the reference does); the bypass
 * monitor's DST goes in ip. */
static json_t *
endpoint_json(struct jb *b, const struct osh_ocsf_endpoint *ep)
{
    json_t *o = json_object();

    put_str(b, o, "ip", ep->ip);
    put_str(b, o, "domain", ep->domain);
    if (ep->port != 0)
        put_int(b, o, "port", ep->port);
    return o;
}

/*
 * {name, pid, path, cmd_line, parent_process{name, parent_process{...}}};
 * the ancestor chain " -> "-split, nearest parent outermost.
 */
static json_t *
process_json(struct jb *b, const struct osh_ocsf_process *p, const char *dflt)
{
    const char *seg[OCSF_MAX_ANCESTORS];
    size_t seglen[OCSF_MAX_ANCESTORS];
    size_t nseg = 0;
    json_t *o = json_object();
    json_t *parent = NULL;
    const char *a = p->ancestors;
    const size_t seplen = strlen(OSH_ANCESTOR_SEP);

    put_str(b, o, "name", p->name != NULL ? p->name : dflt);
    put_int(b, o, "pid", p->pid);
    put_str(b, o, "path", p->path);
    put_str(b, o, "cmd_line", p->cmd_line);

    if (a != NULL && a[0] != '\0' && strcmp(a, "-") != 0) {
        while (nseg < OCSF_MAX_ANCESTORS) {
            const char *end = strstr(a, OSH_ANCESTOR_SEP);
            size_t n = end != NULL ? (size_t)(end - a) : strlen(a);

            seg[nseg] = a;
            seglen[nseg++] = n;
            if (end == NULL)
                break;
            a = end + seplen;
        }
        /* Build from the farthest ancestor inwards. */
        for (size_t i = nseg; i-- > 0;) {
            json_t *po = json_object();

            put(b, po, "name", jstrn(seg[i], seglen[i]));
            if (parent != NULL)
                put(b, po, "parent_process", parent);
            parent = po;
        }
        put(b, o, "parent_process", parent);
    }
    return o;
}

static json_t *
actor_json(struct jb *b, const struct osh_ocsf_process *p)
{
    json_t *o = json_object();

    put(b, o, "process", process_json(b, p, "-"));
    return o;
}

/* metadata.profiles per class (control-plane.md §2.1 table). */
static json_t *
profiles_json(struct jb *b, enum osh_ocsf_class c)
{
    json_t *a = json_array();
    bool security = true, proxy = false;

    switch (c) {
    case OSH_OCSF_CLASS_NETWORK:
    case OSH_OCSF_CLASS_HTTP:
        proxy = true;
        break;
    case OSH_OCSF_CLASS_SSH:
    case OSH_OCSF_CLASS_PROCESS:
    case OSH_OCSF_CLASS_FINDING:
    case OSH_OCSF_CLASS_CONFIG:
        break;
    case OSH_OCSF_CLASS_LIFECYCLE:
    case OSH_OCSF_CLASS_BASE:
        security = false;
        break;
    }
    if (security && json_array_append_new(a, json_string("security_control")) != 0)
        b->failed = true;
    if (proxy && json_array_append_new(a, json_string("network_proxy")) != 0)
        b->failed = true;
    if (json_array_append_new(a, json_string("container")) != 0 ||
        json_array_append_new(a, json_string("host")) != 0)
        b->failed = true;
    return a;
}

static json_t *
type_name_json(const char *cls, const char *act)
{
    size_t lc = strlen(cls), la = strlen(act);
    char *s = malloc(lc + 2 + la + 1);
    json_t *v = NULL;

    if (s == NULL)
        goto out;
    memcpy(s, cls, lc);
    memcpy(s + lc, ": ", 2);
    memcpy(s + lc + 2, act, la + 1);
    v = jstr(s);
out:
    free(s), s = NULL;
    return v;
}

static uint64_t
now_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- the object --------------------------------------------------------- */

/*
 * The base fields, in the documented order; optional ones are skipped, never
 * written as null.  device and container come from the context; unmapped
 * keeps the caller's key order (jansson preserves insertion order).
 */
static void
put_base(struct jb *b, json_t *o, const struct osh_ocsf_event *ev,
         const struct osh_ocsf_context *ctx)
{
    const char *cls = osh_ocsf_class_name(ev->class_uid);
    const char *act = ev->activity_name != NULL
                          ? ev->activity_name
                          : osh_ocsf_activity_name(ev->class_uid, ev->activity_id);
    json_t *meta, *product, *dev, *os, *cont, *img, *unm;

    put_int(b, o, "class_uid", ev->class_uid);
    put_str(b, o, "class_name", cls);
    put_int(b, o, "category_uid", osh_ocsf_category_uid(ev->class_uid));
    put_str(b, o, "category_name", osh_ocsf_category_name(ev->class_uid));
    put_int(b, o, "activity_id", ev->activity_id);
    put_str(b, o, "activity_name", act);
    put_int(b, o, "type_uid", (json_int_t)ev->class_uid * 100 + ev->activity_id);
    put(b, o, "type_name", type_name_json(cls, act));
    put_int(b, o, "time", (json_int_t)(ev->time_ms != 0 ? ev->time_ms : now_ms()));
    put_int(b, o, "severity_id", ev->severity_id);
    put_str(b, o, "severity", osh_ocsf_severity_name(ev->severity_id));
    if (ev->has_status) {
        put_int(b, o, "status_id", ev->status_id);
        put_str(b, o, "status", osh_ocsf_status_name(ev->status_id));
    }
    put_str(b, o, "message", ev->message);
    put_str(b, o, "status_detail", ev->status_detail);

    meta = json_object();
    put_str(b, meta, "version", OSH_OCSF_VERSION);
    product = json_object();
    put_str(b, product, "name", OSH_OCSF_PRODUCT_NAME);
    put_str(b, product, "vendor_name", OSH_OCSF_VENDOR_NAME);
    put_str(b, product, "version", ctx->product_version);
    put(b, meta, "product", product);
    put(b, meta, "profiles", profiles_json(b, ev->class_uid));
    put_str(b, meta, "uid", ctx->sandbox_id);
    put_str(b, meta, "log_source", ev->log_source);
    put(b, o, "metadata", meta);

    if (ctx->hostname != NULL) {
        dev = json_object();
        put_str(b, dev, "hostname", ctx->hostname);
        os = json_object();
        put_str(b, os, "name", "Linux");
        put(b, dev, "os", os);
        put(b, o, "device", dev);
    }
    if (ctx->sandbox_name != NULL || ctx->sandbox_id != NULL || ctx->container_image != NULL) {
        cont = json_object();
        put_str(b, cont, "name", ctx->sandbox_name);
        put_str(b, cont, "uid", ctx->sandbox_id);
        if (ctx->container_image != NULL) {
            img = json_object();
            put_str(b, img, "name", ctx->container_image);
            put(b, cont, "image", img);
        }
        put(b, o, "container", cont);
    }
    if (ev->unmapped != NULL && ev->n_unmapped > 0) {
        unm = json_object();
        for (size_t i = 0; i < ev->n_unmapped; i++) {
            if (ev->unmapped[i].key != NULL && ev->unmapped[i].value != NULL)
                put_str(b, unm, ev->unmapped[i].key, ev->unmapped[i].value);
        }
        put(b, o, "unmapped", unm);
    }
}

static void
put_action_disposition(struct jb *b, json_t *o, const struct osh_ocsf_event *ev)
{
    if (ev->has_action) {
        put_int(b, o, "action_id", ev->action_id);
        put_str(b, o, "action", osh_ocsf_action_name(ev->action_id));
    }
    if (ev->has_disposition) {
        put_int(b, o, "disposition_id", ev->disposition_id);
        put_str(b, o, "disposition", osh_ocsf_disposition_name(ev->disposition_id));
    }
}

/* src, dst, proxy endpoint, actor and firewall rule: shared by NET and HTTP. */
static void
put_flow(struct jb *b, json_t *o, const struct osh_ocsf_event *ev,
         const struct osh_ocsf_context *ctx)
{
    json_t *rule, *proxy;

    if (endpoint_present(&ev->src))
        put(b, o, "src_endpoint", endpoint_json(b, &ev->src));
    if (endpoint_present(&ev->dst))
        put(b, o, "dst_endpoint", endpoint_json(b, &ev->dst));
    if (ctx->proxy_ip != NULL) {
        proxy = json_object();
        put_str(b, proxy, "ip", ctx->proxy_ip);
        put_int(b, proxy, "port", ctx->proxy_port);
        put(b, o, "proxy_endpoint", proxy);
    }
    if (ev->actor.name != NULL)
        put(b, o, "actor", actor_json(b, &ev->actor));
    if (ev->firewall_rule.name != NULL || ev->firewall_rule.type != NULL) {
        rule = json_object();
        put_str(b, rule, "name", ev->firewall_rule.name != NULL ? ev->firewall_rule.name : "-");
        put_str(b, rule, "type", ev->firewall_rule.type != NULL ? ev->firewall_rule.type : "-");
        put(b, o, "firewall_rule", rule);
    }
}

/*
 * Class fields follow the base fields in the reference structs' order.
 * is_src_dst_assignment_known is always true: the proxy is one end of every
 * connection it reports, so it always knows which side is which.
 */
static void
put_network(struct jb *b, json_t *o, const struct osh_ocsf_event *ev,
            const struct osh_ocsf_context *ctx)
{
    json_t *ci;

    put_flow(b, o, ev, ctx);
    if (ev->protocol != NULL) {
        ci = json_object();
        put_str(b, ci, "protocol_name", ev->protocol);
        put(b, o, "connection_info", ci);
    }
    put_action_disposition(b, o, ev);
    if (ev->has_observation_point)
        put_int(b, o, "observation_point_id", ev->observation_point_id);
    put(b, o, "is_src_dst_assignment_known", json_true());
}

/* HTTP: the request and response first, then the same flow fields as NET.
 * The path must already be redacted by the caller (no query string). */
static void
put_http(struct jb *b, json_t *o, const struct osh_ocsf_event *ev,
         const struct osh_ocsf_context *ctx)
{
    json_t *req, *url, *resp;

    if (ev->http.method != NULL || ev->http.scheme != NULL || ev->http.hostname != NULL ||
        ev->http.path != NULL || ev->http.port != 0) {
        req = json_object();
        put_str(b, req, "http_method", ev->http.method);
        if (ev->http.scheme != NULL || ev->http.hostname != NULL || ev->http.path != NULL ||
            ev->http.port != 0) {
            url = json_object();
            put_str(b, url, "scheme", ev->http.scheme);
            put_str(b, url, "hostname", ev->http.hostname);
            put_str(b, url, "path", ev->http.path);
            if (ev->http.port != 0)
                put_int(b, url, "port", ev->http.port);
            put(b, req, "url", url);
        }
        put(b, o, "http_request", req);
    }
    if (ev->http.response_code != 0) {
        resp = json_object();
        put_int(b, resp, "code", ev->http.response_code);
        put(b, o, "http_response", resp);
    }
    put_flow(b, o, ev, ctx);
    put_action_disposition(b, o, ev);
    if (ev->has_observation_point)
        put_int(b, o, "observation_point_id", ev->observation_point_id);
    put(b, o, "is_src_dst_assignment_known", json_true());
}

static void
put_ssh(struct jb *b, json_t *o, const struct osh_ocsf_event *ev)
{
    if (endpoint_present(&ev->src))
        put(b, o, "src_endpoint", endpoint_json(b, &ev->src));
    if (endpoint_present(&ev->dst))
        put(b, o, "dst_endpoint", endpoint_json(b, &ev->dst));
    if (ev->actor.name != NULL)
        put(b, o, "actor", actor_json(b, &ev->actor));
    if (ev->ssh.has_auth_type) {
        put_int(b, o, "auth_type_id", ev->ssh.auth_type_id);
        put_str(b, o, "auth_type",
                ev->ssh.auth_label != NULL ? ev->ssh.auth_label
                                           : osh_ocsf_auth_type_name(ev->ssh.auth_type_id));
    }
    put_str(b, o, "protocol_ver", ev->ssh.protocol_ver);
    put_action_disposition(b, o, ev);
}

static void
put_process(struct jb *b, json_t *o, const struct osh_ocsf_event *ev)
{
    put(b, o, "process", process_json(b, &ev->proc.process, "-"));
    if (ev->actor.name != NULL)
        put(b, o, "actor", actor_json(b, &ev->actor));
    if (ev->proc.has_launch_type) {
        put_int(b, o, "launch_type_id", ev->proc.launch_type_id);
        put_str(b, o, "launch_type", osh_ocsf_launch_type_name(ev->proc.launch_type_id));
    }
    if (ev->proc.has_exit_code)
        put_int(b, o, "exit_code", ev->proc.exit_code);
    put_action_disposition(b, o, ev);
}

/*
 * finding_info is required by the schema, hence the "unknown" defaults.  All
 * evidence pairs go into one evidence object's `data`, as the bypass monitor
 * emits them (dst_addr, dst_port, proto, binary, binary_pid, ancestors).
 */
static void
put_finding(struct jb *b, json_t *o, const struct osh_ocsf_event *ev)
{
    json_t *info = json_object(), *arr, *evd, *data, *rem;

    put_str(b, info, "uid", ev->finding.uid != NULL ? ev->finding.uid : "unknown");
    put_str(b, info, "title", ev->finding.title != NULL ? ev->finding.title : "Unknown Finding");
    put_str(b, info, "desc", ev->finding.desc);
    put(b, o, "finding_info", info);
    if (ev->finding.evidences != NULL && ev->finding.n_evidences > 0) {
        arr = json_array();
        evd = json_object();
        data = json_object();
        for (size_t i = 0; i < ev->finding.n_evidences; i++) {
            const struct osh_ocsf_kv *kv = &ev->finding.evidences[i];

            if (kv->key != NULL && kv->value != NULL)
                put_str(b, data, kv->key, kv->value);
        }
        put(b, evd, "data", data);
        if (json_array_append_new(arr, evd) != 0)
            b->failed = true;
        put(b, o, "evidences", arr);
    }
    if (ev->finding.remediation != NULL) {
        rem = json_object();
        put_str(b, rem, "desc", ev->finding.remediation);
        put(b, o, "remediation", rem);
    }
    put(b, o, "is_alert", json_boolean(ev->finding.is_alert));
    if (ev->finding.has_confidence) {
        put_int(b, o, "confidence_id", ev->finding.confidence_id);
        put_str(b, o, "confidence", osh_ocsf_confidence_name(ev->finding.confidence_id));
    }
    if (ev->finding.has_risk_level) {
        put_int(b, o, "risk_level_id", ev->finding.risk_level_id);
        put_str(b, o, "risk_level", osh_ocsf_risk_level_name(ev->finding.risk_level_id));
    }
    put_action_disposition(b, o, ev);
}

/* state carries the custom label when there is one (loaded, failed,
 * APPROVED, ...), the enum label otherwise. */
static void
put_config(struct jb *b, json_t *o, const struct osh_ocsf_event *ev)
{
    if (ev->config.has_state) {
        put_int(b, o, "state_id", ev->config.state_id);
        put_str(b, o, "state",
                ev->config.state_label != NULL ? ev->config.state_label
                                               : osh_ocsf_state_name(ev->config.state_id));
    }
    if (ev->config.has_security_level) {
        put_int(b, o, "security_level_id", ev->config.security_level_id);
        put_str(b, o, "security_level", osh_ocsf_security_level_name(ev->config.security_level_id));
    }
    if (ev->config.has_prev_security_level) {
        put_int(b, o, "prev_security_level_id", ev->config.prev_security_level_id);
        put_str(b, o, "prev_security_level",
                osh_ocsf_security_level_name(ev->config.prev_security_level_id));
    }
}

static void
put_lifecycle(struct jb *b, json_t *o, const struct osh_ocsf_event *ev,
              const struct osh_ocsf_context *ctx)
{
    json_t *app = json_object();

    put_str(b, app, "name", ev->app_name != NULL ? ev->app_name : "openshell-sandbox");
    put_str(b, app, "vendor_name", OSH_OCSF_VENDOR_NAME);
    put_str(b, app, "version", ctx->product_version);
    put(b, o, "app", app);
}

/* Contract in ocsf.h.  One cleanup path: the builder latches allocation
 * failures, so the object is checked once at the end. */
json_t *
osh_ocsf_to_json(const struct osh_ocsf_event *ev, const struct osh_ocsf_context *ctx)
{
    struct jb b = {.failed = false};
    json_t *o = NULL;

    if (ev == NULL || !class_known(ev->class_uid)) {
        errno = EINVAL;
        goto fail;
    }
    if (ctx == NULL)
        ctx = &fallback_ctx;
    o = json_object();
    if (o == NULL)
        goto nomem;
    put_base(&b, o, ev, ctx);
    switch (ev->class_uid) {
    case OSH_OCSF_CLASS_NETWORK:
        put_network(&b, o, ev, ctx);
        break;
    case OSH_OCSF_CLASS_HTTP:
        put_http(&b, o, ev, ctx);
        break;
    case OSH_OCSF_CLASS_SSH:
        put_ssh(&b, o, ev);
        break;
    case OSH_OCSF_CLASS_PROCESS:
        put_process(&b, o, ev);
        break;
    case OSH_OCSF_CLASS_FINDING:
        put_finding(&b, o, ev);
        break;
    case OSH_OCSF_CLASS_CONFIG:
        put_config(&b, o, ev);
        break;
    case OSH_OCSF_CLASS_LIFECYCLE:
        put_lifecycle(&b, o, ev, ctx);
        break;
    case OSH_OCSF_CLASS_BASE:
        break;
    }
    if (b.failed)
        goto nomem;
    return o;
nomem:
    errno = ENOMEM;
fail:
    json_decref(o), o = NULL;
    return NULL;
}

int
osh_ocsf_jsonl(const struct osh_ocsf_event *ev, const struct osh_ocsf_context *ctx, char **line_out)
{
    const size_t flags = JSON_PRESERVE_ORDER | JSON_COMPACT;
    json_t *o = NULL;
    char *line = NULL;
    size_t n;
    int rc = -ENOMEM;

    if (line_out == NULL)
        return -EINVAL;
    *line_out = NULL;
    o = osh_ocsf_to_json(ev, ctx);
    if (o == NULL) {
        rc = errno == EINVAL ? -EINVAL : -ENOMEM;
        goto out;
    }
    /* Two passes of json_dumpb(): size, then the bytes into a buffer that
     * also holds the newline and the NUL. */
    n = json_dumpb(o, NULL, 0, flags);
    if (n == 0)
        goto out;
    line = malloc(n + 2);
    if (line == NULL)
        goto out;
    if (json_dumpb(o, line, n, flags) != n)
        goto out;
    line[n] = '\n';
    line[n + 1] = '\0';
    *line_out = line;
    line = NULL;
    rc = 0;
out:
    free(line), line = NULL;
    json_decref(o), o = NULL;
    return rc;
}

/*
 * Contract in ocsf.h.  Forward-path denials become HTTP events because the
 * reference logs them as HTTP (network.md §1.6); without an L7 method the
 * shorthand shows "UNKNOWN" as the reference does.  The bypass event's
 * protocol is not in the denial event, so no "/tcp" suffix here; the bypass
 * monitor builds its own richer NET + FINDING pair.
 */
int
osh_ocsf_from_denial(const struct osh_denial_event *d, struct osh_ocsf_event *out)
{
    unsigned char addr[16];

    if (d == NULL || out == NULL || (unsigned)d->stage > (unsigned)OSH_STAGE_BYPASS)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    out->time_ms = d->time_ms;
    out->severity_id = OSH_OCSF_SEV_MEDIUM;
    out->has_action = true;
    out->action_id = OSH_OCSF_ACTION_DENIED;
    out->has_disposition = true;
    out->disposition_id = OSH_OCSF_DISP_BLOCKED;
    out->status_detail = d->deny_reason[0] != '\0' ? d->deny_reason : NULL;
    out->actor.name = d->binary[0] != '\0' ? d->binary : "-";
    out->actor.pid = d->pid;
    out->actor.ancestors = d->ancestors[0] != '\0' ? d->ancestors : NULL;
    out->dst.domain = d->host;
    out->dst.port = d->port;
    out->firewall_rule.name = "-";

    switch (d->stage) {
    case OSH_STAGE_CONNECT:
    case OSH_STAGE_SSRF:
        out->class_uid = OSH_OCSF_CLASS_NETWORK;
        out->activity_id = OSH_OCSF_NET_OPEN;
        out->has_status = true;
        out->status_id = OSH_OCSF_STATUS_FAILURE;
        out->firewall_rule.type = d->stage == OSH_STAGE_SSRF ? "ssrf" : "opa";
        break;
    case OSH_STAGE_FORWARD:
    case OSH_STAGE_FORWARD_L7_DENY:
        out->class_uid = OSH_OCSF_CLASS_HTTP;
        out->activity_id = OSH_OCSF_ACTIVITY_OTHER;
        out->has_status = true;
        out->status_id = OSH_OCSF_STATUS_FAILURE;
        out->firewall_rule.type = d->stage == OSH_STAGE_FORWARD ? "opa" : "l7";
        out->http.method = d->l7_method[0] != '\0' ? d->l7_method : NULL;
        out->http.scheme = "http"; /* the forward proxy refuses https:// targets */
        out->http.hostname = d->host;
        out->http.path = d->l7_path[0] != '\0' ? d->l7_path : NULL;
        out->http.port = d->port;
        break;
    case OSH_STAGE_BYPASS:
        out->class_uid = OSH_OCSF_CLASS_NETWORK;
        out->activity_id = OSH_OCSF_NET_REFUSE;
        out->firewall_rule.name = "bypass-detect";
        out->firewall_rule.type = "nftables";
        out->has_observation_point = true;
        out->observation_point_id = 3;
        if (inet_pton(AF_INET, d->host, addr) == 1 || inet_pton(AF_INET6, d->host, addr) == 1) {
            out->dst.ip = d->host;
            out->dst.domain = NULL;
        }
        break;
    }
    return 0;
}
