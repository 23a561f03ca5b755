/*
 * ocsf_shorthand.c - the one-line human form of an OCSF event
 * (control-plane.md §2.3) and the timestamped openshell.log line.
 *
 * DESIGN
 *   A small writer (`struct sw`) appends into the caller's buffer, never
 *   past len - 1, always NUL-terminated.  It maps '\n' and '\r' to ' ' in
 *   every piece of text, so a hostile host, path or message cannot forge a
 *   second log line.  When the buffer fills, the last piece is cut at a UTF-8
 *   character boundary and everything after it is dropped; the caller gets
 *   -ENOSPC.  No allocation, so this may run on any thread.
 *
 *   Per-class templates (tokens that grep recipes rely on: "OCSF NET:",
 *   "DENIED", "[MED]", ...):
 *     NET:<ACT> <sev>[ <ACTION>][ <proc>(<pid>) -> <host>[:<port>][/<proto>]]
 *         [ [policy:<name> engine:<type>]][ [reason:<detail|message>]]
 *         ([msg:...] instead when there is no action, endpoint, rule or reason)
 *     HTTP:<METHOD> <sev>[ <ACTION>] [<proc>(<pid>) -> ]<METHOD> <url>[ [policy:...]][
 * [reason:...]] SSH:<ACT> <sev>[ <ACTION>][ <peer>][ [auth:<label>]] PROC:<ACT> <sev>
 * <name>(<pid>)[ [exit:<code>]][ [cmd:<cmdline>]] FINDING:<DISPOSITION> <sev> "<title>"[
 * [confidence:<label>]] LIFECYCLE:<ACT> <sev> <app>[ <status>] CONFIG:<STATE> <sev> <message>[
 * [auto:.. source:.. prover_delta:.. resolved_from:.. version:.. hash:..]] EVENT <sev> <message>[
 * [k:v k:v k:v]]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "osh/ocsf.h"

enum sw_case { SW_AS_IS, SW_UPPER, SW_LOWER };

/* The bounded writer. */
struct sw {
    char *buf;
    size_t len; /* >= 1 */
    size_t pos; /* < len; buf[pos] == '\0' */
    bool full;  /* something was cut; later appends are ignored */
};

static size_t utf8_cut(const char *s, size_t n);
static void sw_putn(struct sw *w, const char *s, size_t n, enum sw_case cs);
static void sw_puts(struct sw *w, const char *s);
static void sw_puts_case(struct sw *w, const char *s, enum sw_case cs);
static void sw_put_u64(struct sw *w, uint64_t v);
static void sw_put_capped(struct sw *w, const char *s, size_t cap);
static bool nonempty(const char *s);
static const char *activity_label(const struct osh_ocsf_event *ev);
static const char *unmapped_get(const struct osh_ocsf_event *ev, const char *key);
static void put_proc_pid(struct sw *w, const struct osh_ocsf_process *p);
static void put_endpoint(struct sw *w, const struct osh_ocsf_endpoint *ep);
static void put_rule(struct sw *w, const struct osh_ocsf_event *ev);
static bool put_reason(struct sw *w, const struct osh_ocsf_event *ev);
static void put_url(struct sw *w, const struct osh_ocsf_event *ev);
static void render_net(struct sw *w, const struct osh_ocsf_event *ev, const char *sev);
static void render_http(struct sw *w, const struct osh_ocsf_event *ev, const char *sev);
static void render_ssh(struct sw *w, const struct osh_ocsf_event *ev, const char *sev);
static void render_proc(struct sw *w, const struct osh_ocsf_event *ev, const char *sev);
static void render_finding(struct sw *w, const struct osh_ocsf_event *ev, const char *sev);
static void render_lifecycle(struct sw *w, const struct osh_ocsf_event *ev, const char *sev);
static void render_config(struct sw *w, const struct osh_ocsf_event *ev, const char *sev);
static void render_event(struct sw *w, const struct osh_ocsf_event *ev, const char *sev);
static int render(struct sw *w, const struct osh_ocsf_event *ev);

/* ---- the writer --------------------------------------------------------- */

/*
 * `s` has more than `n` bytes: the largest k <= n such that s[0..k) does not
 * end inside a character (at most three continuation bytes to step over; if
 * the text is not UTF-8, cut at n).
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

static void
sw_putn(struct sw *w, const char *s, size_t n, enum sw_case cs)
{
    size_t room;

    if (w->full)
        return;
    room = w->len - 1 - w->pos;
    if (n > room) {
        n = utf8_cut(s, room);
        w->full = true;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (c == '\n' || c == '\r')
            c = ' ';
        else if (cs == SW_UPPER && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (cs == SW_LOWER && c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        w->buf[w->pos++] = c;
    }
    w->buf[w->pos] = '\0';
}

static void
sw_puts(struct sw *w, const char *s)
{
    sw_putn(w, s, strlen(s), SW_AS_IS);
}

static void
sw_puts_case(struct sw *w, const char *s, enum sw_case cs)
{
    sw_putn(w, s, strlen(s), cs);
}

static void
sw_put_u64(struct sw *w, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v);

    if (n > 0)
        sw_putn(w, tmp, (size_t)n, SW_AS_IS);
}

/* s, cut to at most `cap` bytes at a UTF-8 boundary, "..." when cut. */
static void
sw_put_capped(struct sw *w, const char *s, size_t cap)
{
    size_t n = strnlen(s, cap + 1);

    if (n <= cap) {
        sw_putn(w, s, n, SW_AS_IS);
        return;
    }
    sw_putn(w, s, utf8_cut(s, cap), SW_AS_IS);
    sw_puts(w, "...");
}

/* ---- pieces ------------------------------------------------------------- */

static bool
nonempty(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static const char *
activity_label(const struct osh_ocsf_event *ev)
{
    return ev->activity_name != NULL ? ev->activity_name
                                     : osh_ocsf_activity_name(ev->class_uid, ev->activity_id);
}

/* The first unmapped value under `key`, or NULL. */
static const char *
unmapped_get(const struct osh_ocsf_event *ev, const char *key)
{
    if (ev->unmapped == NULL)
        return NULL;
    for (size_t i = 0; i < ev->n_unmapped; i++) {
        if (ev->unmapped[i].key != NULL && ev->unmapped[i].value != NULL &&
            strcmp(ev->unmapped[i].key, key) == 0)
            return ev->unmapped[i].value;
    }
    return NULL;
}

/* <name>(<pid>) */
static void
put_proc_pid(struct sw *w, const struct osh_ocsf_process *p)
{
    sw_puts(w, p->name != NULL ? p->name : "-");
    sw_puts(w, "(");
    sw_put_u64(w, p->pid);
    sw_puts(w, ")");
}

/* <domain or ip>[:<port>] */
static void
put_endpoint(struct sw *w, const struct osh_ocsf_endpoint *ep)
{
    sw_puts(w, ep->domain != NULL ? ep->domain : ep->ip);
    if (ep->port != 0) {
        sw_puts(w, ":");
        sw_put_u64(w, ep->port);
    }
}

/* " [policy:<name> engine:<type>]" when a firewall rule is set. */
static void
put_rule(struct sw *w, const struct osh_ocsf_event *ev)
{
    if (ev->firewall_rule.name == NULL && ev->firewall_rule.type == NULL)
        return;
    sw_puts(w, " [policy:");
    sw_puts(w, ev->firewall_rule.name != NULL ? ev->firewall_rule.name : "-");
    sw_puts(w, " engine:");
    sw_puts(w, ev->firewall_rule.type != NULL ? ev->firewall_rule.type : "-");
    sw_puts(w, "]");
}

/* " [reason:...]" for a DENIED action: status_detail, else the message.
 * Returns whether a tag was written. */
static bool
put_reason(struct sw *w, const struct osh_ocsf_event *ev)
{
    const char *text;

    if (!ev->has_action || ev->action_id != OSH_OCSF_ACTION_DENIED)
        return false;
    text = nonempty(ev->status_detail) ? ev->status_detail : ev->message;
    if (!nonempty(text))
        return false;
    sw_puts(w, " [reason:");
    sw_put_capped(w, text, OSH_OCSF_REASON_CAP);
    sw_puts(w, "]");
    return true;
}

/* scheme://host[:port]path, the port only when not the scheme's default. */
static void
put_url(struct sw *w, const struct osh_ocsf_event *ev)
{
    const char *scheme = ev->http.scheme != NULL ? ev->http.scheme : "https";
    uint16_t dflt = 0;

    if (strcmp(scheme, "http") == 0 || strcmp(scheme, "ws") == 0)
        dflt = 80;
    else if (strcmp(scheme, "https") == 0 || strcmp(scheme, "wss") == 0)
        dflt = 443;
    sw_puts(w, scheme);
    sw_puts(w, "://");
    sw_puts(w, ev->http.hostname != NULL ? ev->http.hostname : "unknown");
    if (ev->http.port != 0 && ev->http.port != dflt) {
        sw_puts(w, ":");
        sw_put_u64(w, ev->http.port);
    }
    sw_puts(w, ev->http.path != NULL ? ev->http.path : "/");
}

/* ---- per class ---------------------------------------------------------- */

/*
 * The reason shows only for DENIED; [msg:] only when nothing else would
 * tell the reader what happened (no action, actor, endpoint, rule or
 * reason), e.g. "NET:OPEN [INFO] [msg:relay open (channel_id=ch-42)]".
 * The "/<proto>" suffix marks bypass detections (connection_info set).
 */
static void
render_net(struct sw *w, const struct osh_ocsf_event *ev, const char *sev)
{
    bool actor = ev->actor.name != NULL;
    bool dst = ev->dst.domain != NULL || ev->dst.ip != NULL;
    bool rule = ev->firewall_rule.name != NULL || ev->firewall_rule.type != NULL;
    bool reason;

    sw_puts(w, "NET:");
    sw_puts_case(w, activity_label(ev), SW_UPPER);
    sw_puts(w, " ");
    sw_puts(w, sev);
    if (ev->has_action) {
        sw_puts(w, " ");
        sw_puts_case(w, osh_ocsf_action_name(ev->action_id), SW_UPPER);
    }
    if (actor) {
        sw_puts(w, " ");
        put_proc_pid(w, &ev->actor);
    }
    if (dst) {
        sw_puts(w, actor ? " -> " : " ");
        put_endpoint(w, &ev->dst);
        if (ev->protocol != NULL) {
            sw_puts(w, "/");
            sw_puts(w, ev->protocol);
        }
    }
    put_rule(w, ev);
    reason = put_reason(w, ev);
    if (!ev->has_action && !actor && !dst && !rule && !reason && nonempty(ev->message)) {
        sw_puts(w, " [msg:");
        sw_put_capped(w, ev->message, OSH_OCSF_MSG_CAP);
        sw_puts(w, "]");
    }
}

/* The method is printed as given (it came off the wire; newlines are still
 * neutralised by the writer), "UNKNOWN" when absent. */
static void
render_http(struct sw *w, const struct osh_ocsf_event *ev, const char *sev)
{
    const char *method = ev->http.method != NULL ? ev->http.method : "UNKNOWN";

    sw_puts(w, "HTTP:");
    sw_puts(w, method);
    sw_puts(w, " ");
    sw_puts(w, sev);
    if (ev->has_action) {
        sw_puts(w, " ");
        sw_puts_case(w, osh_ocsf_action_name(ev->action_id), SW_UPPER);
    }
    sw_puts(w, " ");
    if (ev->actor.name != NULL) {
        put_proc_pid(w, &ev->actor);
        sw_puts(w, " -> ");
    }
    sw_puts(w, method);
    sw_puts(w, " ");
    put_url(w, ev);
    put_rule(w, ev);
    put_reason(w, ev);
}

static void
render_ssh(struct sw *w, const struct osh_ocsf_event *ev, const char *sev)
{
    sw_puts(w, "SSH:");
    sw_puts_case(w, activity_label(ev), SW_UPPER);
    sw_puts(w, " ");
    sw_puts(w, sev);
    if (ev->has_action) {
        sw_puts(w, " ");
        sw_puts_case(w, osh_ocsf_action_name(ev->action_id), SW_UPPER);
    }
    if (ev->src.domain != NULL || ev->src.ip != NULL) {
        sw_puts(w, " ");
        put_endpoint(w, &ev->src);
    }
    if (ev->ssh.has_auth_type) {
        sw_puts(w, " [auth:");
        sw_puts(w, ev->ssh.auth_label != NULL ? ev->ssh.auth_label
                                              : osh_ocsf_auth_type_name(ev->ssh.auth_type_id));
        sw_puts(w, "]");
    }
}

static void
render_proc(struct sw *w, const struct osh_ocsf_event *ev, const char *sev)
{
    char code[16];

    sw_puts(w, "PROC:");
    sw_puts_case(w, activity_label(ev), SW_UPPER);
    sw_puts(w, " ");
    sw_puts(w, sev);
    sw_puts(w, " ");
    put_proc_pid(w, &ev->proc.process);
    if (ev->proc.has_exit_code) {
        snprintf(code, sizeof(code), "%d", ev->proc.exit_code);
        sw_puts(w, " [exit:");
        sw_puts(w, code);
        sw_puts(w, "]");
    }
    if (ev->proc.process.cmd_line != NULL) {
        sw_puts(w, " [cmd:");
        sw_puts(w, ev->proc.process.cmd_line);
        sw_puts(w, "]");
    }
}

static void
render_finding(struct sw *w, const struct osh_ocsf_event *ev, const char *sev)
{
    sw_puts(w, "FINDING:");
    sw_puts_case(w, ev->has_disposition ? osh_ocsf_disposition_name(ev->disposition_id) : "UNKNOWN",
                 SW_UPPER);
    sw_puts(w, " ");
    sw_puts(w, sev);
    sw_puts(w, " \"");
    sw_puts(w, ev->finding.title != NULL ? ev->finding.title : "Unknown Finding");
    sw_puts(w, "\"");
    if (ev->finding.has_confidence) {
        sw_puts(w, " [confidence:");
        sw_puts_case(w, osh_ocsf_confidence_name(ev->finding.confidence_id), SW_LOWER);
        sw_puts(w, "]");
    }
}

static void
render_lifecycle(struct sw *w, const struct osh_ocsf_event *ev, const char *sev)
{
    sw_puts(w, "LIFECYCLE:");
    sw_puts_case(w, activity_label(ev), SW_UPPER);
    sw_puts(w, " ");
    sw_puts(w, sev);
    sw_puts(w, " ");
    sw_puts(w, ev->app_name != NULL ? ev->app_name : "openshell-sandbox");
    /* The reference prints "<app> " with an empty status; we drop the
     * trailing space when there is no status. */
    if (ev->has_status) {
        sw_puts(w, " ");
        sw_puts_case(w, osh_ocsf_status_name(ev->status_id), SW_LOWER);
    }
}

/* CONFIG: the state label uppercased (custom label first), the message, and
 * the provenance keys from unmapped in a fixed order so lines stay greppable. */
static void
render_config(struct sw *w, const struct osh_ocsf_event *ev, const char *sev)
{
    /* unmapped key -> label, in the fixed order the grep recipes expect */
    static const struct {
        const char *key;
        const char *label;
    } ctx_keys[] = {
        {"auto", "auto"},
        {"source", "source"},
        {"prover_delta", "prover_delta"},
        {"resolved_from", "resolved_from"},
        {"policy_version", "version"},
        {"policy_hash", "hash"},
    };
    const char *state = "UNKNOWN";
    bool open = false;

    if (ev->config.has_state)
        state = ev->config.state_label != NULL ? ev->config.state_label
                                               : osh_ocsf_state_name(ev->config.state_id);
    sw_puts(w, "CONFIG:");
    sw_puts_case(w, state, SW_UPPER);
    sw_puts(w, " ");
    sw_puts(w, sev);
    sw_puts(w, " ");
    sw_puts(w, ev->message != NULL ? ev->message : "config");
    for (size_t i = 0; i < sizeof(ctx_keys) / sizeof(ctx_keys[0]); i++) {
        const char *v = unmapped_get(ev, ctx_keys[i].key);

        if (v == NULL)
            continue;
        sw_puts(w, open ? " " : " [");
        open = true;
        sw_puts(w, ctx_keys[i].label);
        sw_puts(w, ":");
        sw_puts(w, v);
    }
    if (open)
        sw_puts(w, "]");
}

/* EVENT: the first three unmapped pairs, in the caller's order. */
static void
render_event(struct sw *w, const struct osh_ocsf_event *ev, const char *sev)
{
    size_t shown = 0;

    sw_puts(w, "EVENT ");
    sw_puts(w, sev);
    sw_puts(w, " ");
    sw_puts(w, ev->message != NULL ? ev->message : "");
    for (size_t i = 0; ev->unmapped != NULL && i < ev->n_unmapped && shown < 3; i++) {
        const struct osh_ocsf_kv *kv = &ev->unmapped[i];

        if (kv->key == NULL || kv->value == NULL)
            continue;
        sw_puts(w, shown == 0 ? " [" : " ");
        sw_puts(w, kv->key);
        sw_puts(w, ":");
        sw_puts(w, kv->value);
        shown++;
    }
    if (shown > 0)
        sw_puts(w, "]");
}

static int
render(struct sw *w, const struct osh_ocsf_event *ev)
{
    const char *sev = osh_ocsf_severity_tag(ev->severity_id);

    switch (ev->class_uid) {
    case OSH_OCSF_CLASS_NETWORK:
        render_net(w, ev, sev);
        break;
    case OSH_OCSF_CLASS_HTTP:
        render_http(w, ev, sev);
        break;
    case OSH_OCSF_CLASS_SSH:
        render_ssh(w, ev, sev);
        break;
    case OSH_OCSF_CLASS_PROCESS:
        render_proc(w, ev, sev);
        break;
    case OSH_OCSF_CLASS_FINDING:
        render_finding(w, ev, sev);
        break;
    case OSH_OCSF_CLASS_LIFECYCLE:
        render_lifecycle(w, ev, sev);
        break;
    case OSH_OCSF_CLASS_CONFIG:
        render_config(w, ev, sev);
        break;
    case OSH_OCSF_CLASS_BASE:
        render_event(w, ev, sev);
        break;
    default:
        return -EINVAL;
    }
    return w->full ? -ENOSPC : 0;
}

/* ---- entry points ------------------------------------------------------- */

/* Contract in ocsf.h. */
int
osh_ocsf_shorthand(const struct osh_ocsf_event *ev, char *buf, size_t len)
{
    struct sw w = {.buf = buf, .len = len, .pos = 0, .full = false};

    if (ev == NULL || buf == NULL)
        return -EINVAL;
    if (len == 0)
        return -ENOSPC;
    buf[0] = '\0';
    return render(&w, ev);
}

/* Contract in ocsf.h.  Same writer as the shorthand, so the prefix and the
 * shorthand share one bound and one truncation rule. */
int
osh_ocsf_log_line(const struct osh_ocsf_event *ev, char *buf, size_t len)
{
    struct sw w = {.buf = buf, .len = len, .pos = 0, .full = false};
    char ts[40];
    struct timespec now;
    struct tm tm;
    uint64_t ms;
    time_t secs;
    size_t n;

    if (ev == NULL || buf == NULL)
        return -EINVAL;
    if (len == 0)
        return -ENOSPC;
    buf[0] = '\0';
    ms = ev->time_ms;
    if (ms == 0 && clock_gettime(CLOCK_REALTIME, &now) == 0)
        ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
    secs = (time_t)(ms / 1000u);
    if (gmtime_r(&secs, &tm) == NULL)
        return -EINVAL;
    n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    if (n == 0)
        return -EINVAL;
    snprintf(ts + n, sizeof(ts) - n, ".%03uZ OCSF ", (unsigned)(ms % 1000u));
    sw_puts(&w, ts);
    return render(&w, ev);
}
