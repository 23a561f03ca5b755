/*
 * test_ocsf.c - OCSF JSON (parsed back with jansson: base key order,
 * type_uid, enums, class fields) and the exact shorthand / log line forms.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "osh/events.h"
#include "osh/ocsf.h"

/* 2026-04-01T04:04:32.690Z */
#define T_DOC 1775016272690ull

static const struct osh_ocsf_context test_ctx = {
    .sandbox_id = "sandbox-abc123",
    .sandbox_name = "my-sandbox",
    .container_image = "ghcr.io/openshell/sandbox:latest",
    .hostname = "sandbox-abc123",
    .product_version = "0.1.0",
    .proxy_ip = "10.200.0.1",
    .proxy_port = 3128,
};

static json_t *
roundtrip(const struct osh_ocsf_event *ev)
{
    char *line = NULL;
    json_error_t err;
    json_t *j;

    assert_int_equal(osh_ocsf_jsonl(ev, &test_ctx, &line), 0);
    assert_non_null(line);
    /* one line: compact, newline-terminated, no other newline */
    assert_int_equal(line[strlen(line) - 1], '\n');
    assert_int_equal(strchr(line, '\n') - line, (long)strlen(line) - 1);
    j = json_loads(line, 0, &err);
    free(line);
    assert_non_null(j);
    return j;
}

/* The object's keys, in order, must be exactly `want` (NULL-terminated). */
static void
assert_keys(json_t *o, const char *const *want)
{
    const char *key;
    json_t *val;
    size_t i = 0;

    json_object_foreach(o, key, val)
    {
        (void)val;
        assert_non_null(want[i]);
        assert_string_equal(key, want[i]);
        i++;
    }
    assert_null(want[i]);
}

static const char *
jget_str(const json_t *o, const char *path)
{
    /* dotted path lookup */
    char buf[256], *save = NULL, *tok;
    const json_t *cur = o;

    snprintf(buf, sizeof(buf), "%s", path);
    for (tok = strtok_r(buf, ".", &save); tok != NULL; tok = strtok_r(NULL, ".", &save))
        cur = json_object_get(cur, tok);
    assert_true(json_is_string(cur));
    return json_string_value(cur);
}

static json_int_t
jget_int(const json_t *o, const char *path)
{
    char buf[256], *save = NULL, *tok;
    const json_t *cur = o;

    snprintf(buf, sizeof(buf), "%s", path);
    for (tok = strtok_r(buf, ".", &save); tok != NULL; tok = strtok_r(NULL, ".", &save))
        cur = json_object_get(cur, tok);
    assert_true(json_is_integer(cur));
    return json_integer_value(cur);
}

static void
denied_connect(struct osh_denial_event *d)
{
    const char *anc[] = {"/bin/bash", "/usr/bin/tini"};

    assert_int_equal(osh_denial_event_init(d, OSH_STAGE_CONNECT, "httpbin.org", 443,
                                           "/usr/bin/curl", anc, 2, "no matching policy"),
                     0);
    d->pid = 64;
    d->time_ms = T_DOC;
}

static void
expect_shorthand(const struct osh_ocsf_event *ev, const char *want)
{
    char buf[2048];

    assert_int_equal(osh_ocsf_shorthand(ev, buf, sizeof(buf)), 0);
    assert_string_equal(buf, want);
}

/* ---- JSON --------------------------------------------------------------- */

static void
test_json_denied_connect_order(void **state)
{
    static const char *const base_keys[] = {
        "class_uid",
        "class_name",
        "category_uid",
        "category_name",
        "activity_id",
        "activity_name",
        "type_uid",
        "type_name",
        "time",
        "severity_id",
        "severity",
        "status_id",
        "status",
        "status_detail",
        "metadata",
        "device",
        "container",
        /* class fields follow the base fields */
        "dst_endpoint",
        "proxy_endpoint",
        "actor",
        "firewall_rule",
        "action_id",
        "action",
        "disposition_id",
        "disposition",
        "is_src_dst_assignment_known",
        NULL,
    };
    static const char *const meta_keys[] = {"version", "product", "profiles", "uid", NULL};
    static const char *const product_keys[] = {"name", "vendor_name", "version", NULL};
    struct osh_denial_event d;
    struct osh_ocsf_event ev;
    json_t *j, *prof, *pp;
    (void)state;

    denied_connect(&d);
    assert_int_equal(osh_ocsf_from_denial(&d, &ev), 0);
    j = roundtrip(&ev);
    assert_keys(j, base_keys);
    assert_keys(json_object_get(j, "metadata"), meta_keys);
    assert_keys(json_object_get(json_object_get(j, "metadata"), "product"), product_keys);

    assert_int_equal(jget_int(j, "class_uid"), 4001);
    assert_string_equal(jget_str(j, "class_name"), "Network Activity");
    assert_int_equal(jget_int(j, "category_uid"), 4);
    assert_string_equal(jget_str(j, "category_name"), "Network Activity");
    assert_int_equal(jget_int(j, "activity_id"), 1);
    assert_string_equal(jget_str(j, "activity_name"), "Open");
    assert_int_equal(jget_int(j, "type_uid"), 400101);
    assert_string_equal(jget_str(j, "type_name"), "Network Activity: Open");
    assert_int_equal(jget_int(j, "time"), (json_int_t)T_DOC);
    assert_int_equal(jget_int(j, "severity_id"), 3);
    assert_string_equal(jget_str(j, "severity"), "Medium");
    assert_int_equal(jget_int(j, "status_id"), 2);
    assert_string_equal(jget_str(j, "status"), "Failure");
    assert_string_equal(jget_str(j, "status_detail"), "no matching policy");
    assert_string_equal(jget_str(j, "metadata.version"), "1.7.0");
    assert_string_equal(jget_str(j, "metadata.product.name"), "OpenShell Sandbox Supervisor");
    assert_string_equal(jget_str(j, "metadata.product.vendor_name"), "OpenShell");
    assert_string_equal(jget_str(j, "metadata.product.version"), "0.1.0");
    assert_string_equal(jget_str(j, "metadata.uid"), "sandbox-abc123");
    prof = json_object_get(json_object_get(j, "metadata"), "profiles");
    assert_int_equal(json_array_size(prof), 4);
    assert_string_equal(json_string_value(json_array_get(prof, 0)), "security_control");
    assert_string_equal(json_string_value(json_array_get(prof, 1)), "network_proxy");
    assert_string_equal(json_string_value(json_array_get(prof, 2)), "container");
    assert_string_equal(json_string_value(json_array_get(prof, 3)), "host");
    assert_string_equal(jget_str(j, "device.hostname"), "sandbox-abc123");
    assert_string_equal(jget_str(j, "device.os.name"), "Linux");
    assert_string_equal(jget_str(j, "container.name"), "my-sandbox");
    assert_string_equal(jget_str(j, "container.uid"), "sandbox-abc123");
    assert_string_equal(jget_str(j, "container.image.name"), "ghcr.io/openshell/sandbox:latest");
    assert_string_equal(jget_str(j, "dst_endpoint.domain"), "httpbin.org");
    assert_int_equal(jget_int(j, "dst_endpoint.port"), 443);
    assert_string_equal(jget_str(j, "proxy_endpoint.ip"), "10.200.0.1");
    assert_int_equal(jget_int(j, "proxy_endpoint.port"), 3128);
    assert_string_equal(jget_str(j, "actor.process.name"), "/usr/bin/curl");
    assert_int_equal(jget_int(j, "actor.process.pid"), 64);
    assert_string_equal(jget_str(j, "actor.process.parent_process.name"), "/bin/bash");
    assert_string_equal(jget_str(j, "actor.process.parent_process.parent_process.name"),
                        "/usr/bin/tini");
    pp = json_object_get(
        json_object_get(json_object_get(json_object_get(j, "actor"), "process"), "parent_process"),
        "parent_process");
    assert_null(json_object_get(pp, "parent_process"));
    assert_string_equal(jget_str(j, "firewall_rule.name"), "-");
    assert_string_equal(jget_str(j, "firewall_rule.type"), "opa");
    assert_int_equal(jget_int(j, "action_id"), 2);
    assert_string_equal(jget_str(j, "action"), "Denied");
    assert_int_equal(jget_int(j, "disposition_id"), 2);
    assert_string_equal(jget_str(j, "disposition"), "Blocked");
    assert_true(json_is_true(json_object_get(j, "is_src_dst_assignment_known")));
    json_decref(j);
}

static void
test_jsonl_compact_prefix(void **state)
{
    struct osh_denial_event d;
    struct osh_ocsf_event ev;
    char *line = NULL;
    static const char want_prefix[] =
        "{\"class_uid\":4001,\"class_name\":\"Network Activity\","
        "\"category_uid\":4,\"category_name\":\"Network Activity\","
        "\"activity_id\":1,\"activity_name\":\"Open\",\"type_uid\":400101,"
        "\"type_name\":\"Network Activity: Open\",\"time\":1775016272690,"
        "\"severity_id\":3,\"severity\":\"Medium\",\"status_id\":2,"
        "\"status\":\"Failure\",\"status_detail\":\"no matching policy\","
        "\"metadata\":{\"version\":\"1.7.0\",\"product\":{\"name\":"
        "\"OpenShell Sandbox Supervisor\",\"vendor_name\":\"OpenShell\","
        "\"version\":\"0.1.0\"},\"profiles\":[\"security_control\","
        "\"network_proxy\",\"container\",\"host\"],\"uid\":\"sandbox-abc123\"},"
        "\"device\":{\"hostname\":\"sandbox-abc123\",\"os\":{\"name\":\"Linux\"}},";
    (void)state;

    denied_connect(&d);
    assert_int_equal(osh_ocsf_from_denial(&d, &ev), 0);
    assert_int_equal(osh_ocsf_jsonl(&ev, &test_ctx, &line), 0);
    assert_non_null(line);
    assert_true(strncmp(line, want_prefix, strlen(want_prefix)) == 0);
    assert_int_equal(strchr(line, '\n') - line, (long)strlen(line) - 1);
    assert_null(strstr(line, ", "));
    free(line);
}

static void
test_json_base_event_and_unmapped(void **state)
{
    static const struct osh_ocsf_kv unm[] = {{"ns", "openshell-sandbox-abc123"},
                                             {"veth", "veth-s-abc"}};
    static const char *const keys[] = {
        "class_uid", "class_name", "category_uid", "category_name", "activity_id", "activity_name",
        "type_uid",  "type_name",  "time",         "severity_id",   "severity",    "status_id",
        "status",    "message",    "metadata",     "device",        "container",   "unmapped",
        NULL,
    };
    static const char *const unm_keys[] = {"ns", "veth", NULL};
    struct osh_ocsf_event ev = {
        .class_uid = OSH_OCSF_CLASS_BASE,
        .activity_id = OSH_OCSF_ACTIVITY_OTHER,
        .activity_name = "Network Namespace Created",
        .severity_id = OSH_OCSF_SEV_INFO,
        .time_ms = 1,
        .has_status = true,
        .status_id = OSH_OCSF_STATUS_SUCCESS,
        .message = "Network namespace created",
        .unmapped = unm,
        .n_unmapped = 2,
    };
    json_t *j, *prof;
    (void)state;

    j = roundtrip(&ev);
    assert_keys(j, keys);
    assert_keys(json_object_get(j, "unmapped"), unm_keys);
    assert_int_equal(jget_int(j, "type_uid"), 99);
    assert_string_equal(jget_str(j, "type_name"), "Base Event: Network Namespace Created");
    assert_string_equal(jget_str(j, "category_name"), "Uncategorized");
    assert_int_equal(jget_int(j, "category_uid"), 0);
    prof = json_object_get(json_object_get(j, "metadata"), "profiles");
    assert_int_equal(json_array_size(prof), 2);
    assert_string_equal(json_string_value(json_array_get(prof, 0)), "container");
    json_decref(j);
}

static void
test_json_finding_config_lifecycle_process(void **state)
{
    static const struct osh_ocsf_kv evd[] = {
        {"dst_addr", "93.184.216.34"}, {"dst_port", "443"},  {"proto", "tcp"},
        {"binary", "/usr/bin/node"},   {"binary_pid", "77"}, {"ancestors", "-"},
    };
    struct osh_ocsf_event f = {
        .class_uid = OSH_OCSF_CLASS_FINDING,
        .activity_id = OSH_OCSF_FINDING_CREATE,
        .severity_id = OSH_OCSF_SEV_MEDIUM,
        .time_ms = 5,
        .has_action = true,
        .action_id = OSH_OCSF_ACTION_DENIED,
        .has_disposition = true,
        .disposition_id = OSH_OCSF_DISP_BLOCKED,
        .finding = {.uid = "bypass-detect",
                    .title = "Proxy Bypass Detected",
                    .desc = "direct connection bypassed HTTP CONNECT proxy",
                    .remediation = "ensure process honors HTTP_PROXY/HTTPS_PROXY",
                    .is_alert = true,
                    .has_confidence = true,
                    .confidence_id = OSH_OCSF_CONFIDENCE_HIGH,
                    .evidences = evd,
                    .n_evidences = 6},
    };
    struct osh_ocsf_event c = {
        .class_uid = OSH_OCSF_CLASS_CONFIG,
        .activity_id = OSH_OCSF_CONFIG_LOG,
        .severity_id = OSH_OCSF_SEV_MEDIUM,
        .time_ms = 5,
        .config = {.has_state = true, .state_id = OSH_OCSF_STATE_OTHER, .state_label = "failed"},
    };
    struct osh_ocsf_event l = {
        .class_uid = OSH_OCSF_CLASS_LIFECYCLE,
        .activity_id = OSH_OCSF_LIFECYCLE_START,
        .severity_id = OSH_OCSF_SEV_INFO,
        .time_ms = 5,
    };
    struct osh_ocsf_event p = {
        .class_uid = OSH_OCSF_CLASS_PROCESS,
        .activity_id = OSH_OCSF_PROC_TERMINATE,
        .severity_id = OSH_OCSF_SEV_CRITICAL,
        .time_ms = 5,
        .proc = {.process = {.name = "python3", .pid = 42},
                 .has_exit_code = true,
                 .exit_code = -9,
                 .has_launch_type = true,
                 .launch_type_id = OSH_OCSF_LAUNCH_SPAWN},
    };
    json_t *j, *data;
    (void)state;

    j = roundtrip(&f);
    assert_int_equal(jget_int(j, "type_uid"), 200401);
    assert_string_equal(jget_str(j, "type_name"), "Detection Finding: Create");
    assert_string_equal(jget_str(j, "finding_info.uid"), "bypass-detect");
    assert_string_equal(jget_str(j, "finding_info.title"), "Proxy Bypass Detected");
    assert_string_equal(jget_str(j, "remediation.desc"),
                        "ensure process honors HTTP_PROXY/HTTPS_PROXY");
    assert_true(json_is_true(json_object_get(j, "is_alert")));
    assert_int_equal(jget_int(j, "confidence_id"), 3);
    assert_string_equal(jget_str(j, "confidence"), "High");
    data = json_object_get(json_array_get(json_object_get(j, "evidences"), 0), "data");
    assert_int_equal(json_object_size(data), 6);
    assert_string_equal(json_string_value(json_object_get(data, "dst_port")), "443");
    json_decref(j);

    j = roundtrip(&c);
    assert_int_equal(jget_int(j, "type_uid"), 501901);
    assert_string_equal(jget_str(j, "type_name"), "Device Config State Change: Log");
    assert_int_equal(jget_int(j, "state_id"), 99);
    assert_string_equal(jget_str(j, "state"), "failed");
    assert_string_equal(jget_str(j, "category_name"), "Discovery");
    json_decref(j);

    j = roundtrip(&l);
    assert_int_equal(jget_int(j, "type_uid"), 600203);
    assert_string_equal(jget_str(j, "type_name"), "Application Lifecycle: Start");
    assert_string_equal(jget_str(j, "app.name"), "openshell-sandbox");
    assert_string_equal(jget_str(j, "app.version"), "0.1.0");
    json_decref(j);

    j = roundtrip(&p);
    assert_int_equal(jget_int(j, "type_uid"), 100702);
    assert_string_equal(jget_str(j, "severity"), "Critical");
    assert_string_equal(jget_str(j, "process.name"), "python3");
    assert_int_equal(jget_int(j, "exit_code"), -9);
    assert_string_equal(jget_str(j, "launch_type"), "Spawn");
    json_decref(j);
}

static void
test_json_bypass_and_bad_utf8(void **state)
{
    struct osh_denial_event d;
    struct osh_ocsf_event ev;
    json_t *j;
    (void)state;

    assert_int_equal(osh_denial_event_init(&d, OSH_STAGE_BYPASS, "2001:db8::1", 443,
                                           "/usr/bin/\xff\xfenode", NULL, 0,
                                           "direct connection bypassed HTTP CONNECT proxy"),
                     0);
    assert_int_equal(osh_ocsf_from_denial(&d, &ev), 0);
    j = roundtrip(&ev);
    assert_int_equal(jget_int(j, "type_uid"), 400105);
    assert_string_equal(jget_str(j, "dst_endpoint.ip"), "2001:db8::1");
    assert_null(json_object_get(json_object_get(j, "dst_endpoint"), "domain"));
    assert_int_equal(jget_int(j, "observation_point_id"), 3);
    assert_string_equal(jget_str(j, "firewall_rule.name"), "bypass-detect");
    assert_string_equal(jget_str(j, "firewall_rule.type"), "nftables");
    /* invalid UTF-8 repaired, not fatal */
    assert_string_equal(jget_str(j, "actor.process.name"), "/usr/bin/??node");
    assert_null(json_object_get(j, "status_id"));
    json_decref(j);
}

static void
test_json_errors(void **state)
{
    struct osh_ocsf_event ev = {.class_uid = (enum osh_ocsf_class)4242};
    char dummy = 0;
    char *line = &dummy;
    json_t *j;
    (void)state;

    errno = 0;
    assert_null(osh_ocsf_to_json(&ev, NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(osh_ocsf_to_json(NULL, NULL));
    assert_int_equal(osh_ocsf_jsonl(&ev, NULL, &line), -EINVAL);
    assert_null(line);
    assert_int_equal(osh_ocsf_jsonl(&ev, NULL, NULL), -EINVAL);
    assert_int_equal(osh_ocsf_from_denial(NULL, &ev), -EINVAL);

    /* NULL context: the fallback (hostname "test", proxy 127.0.0.1:3128) */
    ev.class_uid = OSH_OCSF_CLASS_NETWORK;
    ev.activity_id = OSH_OCSF_NET_LISTEN;
    j = osh_ocsf_to_json(&ev, NULL);
    assert_non_null(j);
    assert_string_equal(jget_str(j, "device.hostname"), "test");
    assert_string_equal(jget_str(j, "proxy_endpoint.ip"), "127.0.0.1");
    assert_int_equal(jget_int(j, "proxy_endpoint.port"), 3128);
    assert_true(jget_int(j, "time") > 1600000000000ll); /* time 0 -> now */
    json_decref(j);
}

/* ---- labels ------------------------------------------------------------- */

static void
test_labels(void **state)
{
    (void)state;
    assert_string_equal(osh_ocsf_disposition_name(OSH_OCSF_DISP_DETECTED), "Detected");
    assert_string_equal(osh_ocsf_disposition_name(OSH_OCSF_DISP_REJECTED), "Rejected");
    assert_string_equal(osh_ocsf_disposition_name(OSH_OCSF_DISP_ERROR), "Error");
    assert_string_equal(osh_ocsf_disposition_name(OSH_OCSF_DISP_OTHER), "Other");
    assert_string_equal(osh_ocsf_disposition_name((enum osh_ocsf_disposition)50), "Unknown");
    assert_string_equal(osh_ocsf_activity_name(OSH_OCSF_CLASS_NETWORK, 5), "Refuse");
    assert_string_equal(osh_ocsf_activity_name(OSH_OCSF_CLASS_HTTP, 3), "Get");
    assert_string_equal(osh_ocsf_activity_name(OSH_OCSF_CLASS_HTTP, 99), "Other");
    assert_string_equal(osh_ocsf_activity_name(OSH_OCSF_CLASS_PROCESS, 5), "Set User ID");
    assert_string_equal(osh_ocsf_activity_name(OSH_OCSF_CLASS_LIFECYCLE, 8), "Update");
    assert_string_equal(osh_ocsf_activity_name(OSH_OCSF_CLASS_CONFIG, 1), "Log");
    assert_string_equal(osh_ocsf_activity_name(OSH_OCSF_CLASS_FINDING, 3), "Close");
    assert_string_equal(osh_ocsf_activity_name(OSH_OCSF_CLASS_FINDING, 7), "Unknown");
    assert_string_equal(osh_ocsf_severity_tag(OSH_OCSF_SEV_UNKNOWN), "[INFO]");
    assert_string_equal(osh_ocsf_severity_tag(OSH_OCSF_SEV_OTHER), "[INFO]");
    assert_string_equal(osh_ocsf_severity_tag(OSH_OCSF_SEV_LOW), "[LOW]");
    assert_string_equal(osh_ocsf_severity_tag(OSH_OCSF_SEV_CRITICAL), "[CRIT]");
    assert_string_equal(osh_ocsf_severity_tag(OSH_OCSF_SEV_FATAL), "[FATAL]");
    assert_string_equal(osh_ocsf_severity_name(OSH_OCSF_SEV_INFO), "Informational");
    assert_int_equal(osh_ocsf_category_uid(OSH_OCSF_CLASS_LIFECYCLE), 6);
    assert_int_equal(osh_ocsf_category_uid(OSH_OCSF_CLASS_PROCESS), 1);
}

/* ---- shorthand ---------------------------------------------------------- */

static void
test_short_denied_connect(void **state)
{
    struct osh_denial_event d;
    struct osh_ocsf_event ev;
    char buf[512];
    (void)state;

    denied_connect(&d);
    assert_int_equal(osh_ocsf_from_denial(&d, &ev), 0);
    expect_shorthand(&ev, "NET:OPEN [MED] DENIED /usr/bin/curl(64) -> httpbin.org:443 "
                          "[policy:- engine:opa] [reason:no matching policy]");
    assert_int_equal(osh_ocsf_log_line(&ev, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "2026-04-01T04:04:32.690Z OCSF NET:OPEN [MED] DENIED "
                             "/usr/bin/curl(64) -> httpbin.org:443 [policy:- engine:opa] "
                             "[reason:no matching policy]");

    /* SSRF denial: same shape, engine ssrf */
    assert_int_equal(osh_denial_event_init(&d, OSH_STAGE_SSRF, "169.254.169.254", 80, "curl", NULL,
                                           0, "internal address"),
                     0);
    d.pid = 1618;
    assert_int_equal(osh_ocsf_from_denial(&d, &ev), 0);
    expect_shorthand(&ev, "NET:OPEN [MED] DENIED curl(1618) -> 169.254.169.254:80 "
                          "[policy:- engine:ssrf] [reason:internal address]");
}

static void
test_short_allowed_connect(void **state)
{
    struct osh_ocsf_event ev = {
        .class_uid = OSH_OCSF_CLASS_NETWORK,
        .activity_id = OSH_OCSF_NET_OPEN,
        .severity_id = OSH_OCSF_SEV_INFO,
        .has_action = true,
        .action_id = OSH_OCSF_ACTION_ALLOWED,
        .has_disposition = true,
        .disposition_id = OSH_OCSF_DISP_ALLOWED,
        .message = "CONNECT allowed api.example.com:443",
        .status_detail = "should not show: not denied",
        .actor = {.name = "python3", .pid = 42},
        .dst = {.domain = "api.example.com", .port = 443},
        .firewall_rule = {.name = "default-egress", .type = "mechanistic"},
    };
    (void)state;

    expect_shorthand(&ev, "NET:OPEN [INFO] ALLOWED python3(42) -> api.example.com:443 "
                          "[policy:default-egress engine:mechanistic]");
}

static void
test_short_bypass(void **state)
{
    struct osh_denial_event d;
    struct osh_ocsf_event ev;
    (void)state;

    assert_int_equal(osh_denial_event_init(&d, OSH_STAGE_BYPASS, "93.184.216.34", 443, "node", NULL,
                                           0, "direct connection bypassed HTTP CONNECT proxy"),
                     0);
    d.pid = 1234;
    assert_int_equal(osh_ocsf_from_denial(&d, &ev), 0);
    expect_shorthand(&ev, "NET:REFUSE [MED] DENIED node(1234) -> 93.184.216.34:443 "
                          "[policy:bypass-detect engine:nftables] "
                          "[reason:direct connection bypassed HTTP CONNECT proxy]");
    /* with the protocol (as the bypass monitor builds it), no detail */
    ev.protocol = "tcp";
    ev.status_detail = NULL;
    expect_shorthand(&ev, "NET:REFUSE [MED] DENIED node(1234) -> 93.184.216.34:443/tcp "
                          "[policy:bypass-detect engine:nftables]");
}

static void
test_short_http(void **state)
{
    struct osh_ocsf_event ev = {
        .class_uid = OSH_OCSF_CLASS_HTTP,
        .activity_id = OSH_OCSF_ACTIVITY_OTHER,
        .severity_id = OSH_OCSF_SEV_MEDIUM,
        .has_action = true,
        .action_id = OSH_OCSF_ACTION_DENIED,
        .has_disposition = true,
        .disposition_id = OSH_OCSF_DISP_BLOCKED,
        .status_detail = "not in allowed_ips",
        .actor = {.name = "curl", .pid = 1618},
        .http = {.method = "PUT",
                 .scheme = "http",
                 .hostname = "169.254.169.254",
                 .path = "/latest/api/token",
                 .port = 80},
        .firewall_rule = {.name = "aws_iam", .type = "l7"},
    };
    struct osh_ocsf_event ok = {
        .class_uid = OSH_OCSF_CLASS_HTTP,
        .activity_id = OSH_OCSF_HTTP_GET,
        .severity_id = OSH_OCSF_SEV_INFO,
        .has_action = true,
        .action_id = OSH_OCSF_ACTION_ALLOWED,
        .actor = {.name = "curl", .pid = 68},
        .http = {.method = "GET",
                 .scheme = "http",
                 .hostname = "172.20.0.1",
                 .path = "/test",
                 .port = 9876},
        .firewall_rule = {.name = "allow_host_9876", .type = "mechanistic"},
    };
    struct osh_denial_event d;
    struct osh_ocsf_event fwd;
    json_t *j;
    (void)state;

    expect_shorthand(&ev, "HTTP:PUT [MED] DENIED curl(1618) -> PUT "
                          "http://169.254.169.254/latest/api/token "
                          "[policy:aws_iam engine:l7] [reason:not in allowed_ips]");
    expect_shorthand(&ok, "HTTP:GET [INFO] ALLOWED curl(68) -> GET http://172.20.0.1:9876/test "
                          "[policy:allow_host_9876 engine:mechanistic]");
    ok.http.scheme = "https";
    ok.http.port = 443;
    ok.actor.name = NULL;
    ok.has_action = false;
    ok.firewall_rule.name = NULL;
    ok.firewall_rule.type = NULL;
    expect_shorthand(&ok, "HTTP:GET [INFO] GET https://172.20.0.1/test");

    /* forward L7 deny from a denial event */
    assert_int_equal(osh_denial_event_init(&d, OSH_STAGE_FORWARD_L7_DENY, "api.example.com", 8080,
                                           "/usr/bin/python3", NULL, 0,
                                           "POST /v1/admin not allowed"),
                     0);
    d.pid = 7;
    assert_int_equal(osh_denial_event_set_l7(&d, "POST", "/v1/admin"), 0);
    assert_int_equal(osh_ocsf_from_denial(&d, &fwd), 0);
    expect_shorthand(&fwd, "HTTP:POST [MED] DENIED /usr/bin/python3(7) -> POST "
                           "http://api.example.com:8080/v1/admin [policy:- engine:l7] "
                           "[reason:POST /v1/admin not allowed]");
    j = roundtrip(&fwd);
    assert_int_equal(jget_int(j, "type_uid"), 400299);
    assert_string_equal(jget_str(j, "type_name"), "HTTP Activity: Other");
    assert_string_equal(jget_str(j, "http_request.http_method"), "POST");
    assert_string_equal(jget_str(j, "http_request.url.hostname"), "api.example.com");
    assert_int_equal(jget_int(j, "http_request.url.port"), 8080);
    json_decref(j);
}

static void
test_short_proc(void **state)
{
    struct osh_ocsf_event ev = {
        .class_uid = OSH_OCSF_CLASS_PROCESS,
        .activity_id = OSH_OCSF_PROC_LAUNCH,
        .severity_id = OSH_OCSF_SEV_INFO,
        .proc = {.process = {.name = "python3", .pid = 42, .cmd_line = "python3 /app/main.py"},
                 .has_launch_type = true,
                 .launch_type_id = OSH_OCSF_LAUNCH_SPAWN},
    };
    (void)state;

    expect_shorthand(&ev, "PROC:LAUNCH [INFO] python3(42) [cmd:python3 /app/main.py]");
    ev.activity_id = OSH_OCSF_PROC_TERMINATE;
    ev.proc.process.cmd_line = NULL;
    ev.proc.has_exit_code = true;
    ev.proc.exit_code = 0;
    expect_shorthand(&ev, "PROC:TERMINATE [INFO] python3(42) [exit:0]");
    ev.severity_id = OSH_OCSF_SEV_CRITICAL;
    ev.proc.exit_code = -9;
    expect_shorthand(&ev, "PROC:TERMINATE [CRIT] python3(42) [exit:-9]");
}

static void
test_short_config(void **state)
{
    static const struct osh_ocsf_kv unm[] = {
        {"policy_hash", "sha256:abc123def456"},
        {"policy_version", "v3"},
        {"source", "gateway"},
        {"unrelated", "x"},
    };
    struct osh_ocsf_event ev = {
        .class_uid = OSH_OCSF_CLASS_CONFIG,
        .activity_id = OSH_OCSF_CONFIG_LOG,
        .severity_id = OSH_OCSF_SEV_MEDIUM,
        .has_status = true,
        .status_id = OSH_OCSF_STATUS_FAILURE,
        .message = "Policy reload failed: keeping last good policy",
        .config = {.has_state = true, .state_id = OSH_OCSF_STATE_OTHER, .state_label = "failed"},
    };
    (void)state;

    expect_shorthand(&ev, "CONFIG:FAILED [MED] Policy reload failed: keeping last good policy");
    ev.unmapped = unm;
    ev.n_unmapped = 4;
    expect_shorthand(&ev, "CONFIG:FAILED [MED] Policy reload failed: keeping last good policy "
                          "[source:gateway version:v3 hash:sha256:abc123def456]");
    ev.severity_id = OSH_OCSF_SEV_INFO;
    ev.config.state_id = OSH_OCSF_STATE_ENABLED;
    ev.config.state_label = NULL;
    ev.message = NULL;
    ev.n_unmapped = 0;
    expect_shorthand(&ev, "CONFIG:ENABLED [INFO] config");
    ev.config.has_state = false;
    expect_shorthand(&ev, "CONFIG:UNKNOWN [INFO] config");
}

static void
test_short_other_classes(void **state)
{
    static const struct osh_ocsf_kv unm[] = {
        {"ns", "openshell-sandbox-abc123"}, {"b", "2"}, {"c", "3"}, {"d", "4"}};
    struct osh_ocsf_event f = {
        .class_uid = OSH_OCSF_CLASS_FINDING,
        .activity_id = OSH_OCSF_FINDING_CREATE,
        .severity_id = OSH_OCSF_SEV_HIGH,
        .has_disposition = true,
        .disposition_id = OSH_OCSF_DISP_BLOCKED,
        .finding = {.title = "NSSH1 Nonce Replay Attack",
                    .has_confidence = true,
                    .confidence_id = OSH_OCSF_CONFIDENCE_HIGH},
    };
    struct osh_ocsf_event l = {
        .class_uid = OSH_OCSF_CLASS_LIFECYCLE,
        .activity_id = OSH_OCSF_LIFECYCLE_START,
        .severity_id = OSH_OCSF_SEV_INFO,
        .has_status = true,
        .status_id = OSH_OCSF_STATUS_SUCCESS,
    };
    struct osh_ocsf_event s = {
        .class_uid = OSH_OCSF_CLASS_SSH,
        .activity_id = OSH_OCSF_NET_OPEN,
        .severity_id = OSH_OCSF_SEV_INFO,
        .has_action = true,
        .action_id = OSH_OCSF_ACTION_ALLOWED,
        .src = {.ip = "10.42.0.1", .port = 48201},
        .ssh = {.has_auth_type = true, .auth_type_id = OSH_OCSF_AUTH_OTHER, .auth_label = "NSSH1"},
    };
    struct osh_ocsf_event e = {
        .class_uid = OSH_OCSF_CLASS_BASE,
        .activity_id = OSH_OCSF_ACTIVITY_OTHER,
        .severity_id = OSH_OCSF_SEV_INFO,
        .message = "Network namespace created",
        .unmapped = unm,
        .n_unmapped = 1,
    };
    (void)state;

    expect_shorthand(&f, "FINDING:BLOCKED [HIGH] \"NSSH1 Nonce Replay Attack\" [confidence:high]");
    f.has_disposition = false;
    f.finding.has_confidence = false;
    expect_shorthand(&f, "FINDING:UNKNOWN [HIGH] \"NSSH1 Nonce Replay Attack\"");
    expect_shorthand(&l, "LIFECYCLE:START [INFO] openshell-sandbox success");
    l.activity_id = OSH_OCSF_LIFECYCLE_STOP;
    l.severity_id = OSH_OCSF_SEV_FATAL;
    l.status_id = OSH_OCSF_STATUS_FAILURE;
    expect_shorthand(&l, "LIFECYCLE:STOP [FATAL] openshell-sandbox failure");
    expect_shorthand(&s, "SSH:OPEN [INFO] ALLOWED 10.42.0.1:48201 [auth:NSSH1]");
    expect_shorthand(&e, "EVENT [INFO] Network namespace created [ns:openshell-sandbox-abc123]");
    e.n_unmapped = 4;
    expect_shorthand(&e, "EVENT [INFO] Network namespace created "
                         "[ns:openshell-sandbox-abc123 b:2 c:3]");
}

static void
test_short_msg_and_caps(void **state)
{
    struct osh_ocsf_event ev = {
        .class_uid = OSH_OCSF_CLASS_NETWORK,
        .activity_id = OSH_OCSF_NET_OPEN,
        .severity_id = OSH_OCSF_SEV_INFO,
        .message = "relay open (channel_id=ch-42)",
    };
    char text[400], want[600], buf[1024];
    (void)state;

    /* no action, endpoint, rule or reason: the message is shown */
    expect_shorthand(&ev, "NET:OPEN [INFO] [msg:relay open (channel_id=ch-42)]");
    /* [msg:] capped at 120 bytes + "..." */
    memset(text, 'm', 200);
    text[200] = '\0';
    ev.message = text;
    snprintf(want, sizeof(want), "NET:OPEN [INFO] [msg:%.120s...]", text);
    expect_shorthand(&ev, want);
    /* exactly 120 bytes: no ellipsis */
    text[120] = '\0';
    snprintf(want, sizeof(want), "NET:OPEN [INFO] [msg:%s]", text);
    expect_shorthand(&ev, want);
    /* a 2-byte character straddling byte 120 goes whole */
    memset(text, 'm', 119);
    memcpy(text + 119, "\xc3\xa9zz", 5);
    snprintf(want, sizeof(want), "NET:OPEN [INFO] [msg:%.119s...]", text);
    expect_shorthand(&ev, want);

    /* [reason:] capped at 256 bytes + "...", only when DENIED */
    memset(text, 'r', 300);
    text[300] = '\0';
    ev.message = NULL;
    ev.has_action = true;
    ev.action_id = OSH_OCSF_ACTION_DENIED;
    ev.status_detail = text;
    snprintf(want, sizeof(want), "NET:OPEN [INFO] DENIED [reason:%.256s...]", text);
    expect_shorthand(&ev, want);
    text[256] = '\0';
    snprintf(want, sizeof(want), "NET:OPEN [INFO] DENIED [reason:%s]", text);
    expect_shorthand(&ev, want);
    /* a 3-byte character straddling byte 256 goes whole */
    memset(text, 'r', 255);
    memcpy(text + 255, "\xe2\x82\xac!", 5);
    snprintf(want, sizeof(want), "NET:OPEN [INFO] DENIED [reason:%.255s...]", text);
    expect_shorthand(&ev, want);
    /* reason falls back to the message when there is no detail */
    ev.status_detail = NULL;
    ev.message = "CONNECT denied x:1";
    expect_shorthand(&ev, "NET:OPEN [INFO] DENIED [reason:CONNECT denied x:1]");
    /* not DENIED: no reason, and an action suppresses [msg:] */
    ev.action_id = OSH_OCSF_ACTION_ALLOWED;
    expect_shorthand(&ev, "NET:OPEN [INFO] ALLOWED");
    (void)buf;
}

static void
test_short_newlines(void **state)
{
    struct osh_ocsf_event ev = {
        .class_uid = OSH_OCSF_CLASS_NETWORK,
        .activity_id = OSH_OCSF_NET_OPEN,
        .severity_id = OSH_OCSF_SEV_MEDIUM,
        .has_action = true,
        .action_id = OSH_OCSF_ACTION_DENIED,
        .status_detail = "line one\nline two\r\nthree",
        .actor = {.name = "evil\nbin", .pid = 1},
        .dst = {.domain = "host\r\n2026-01-01T00:00:00.000Z OCSF FAKE", .port = 1},
    };
    struct osh_ocsf_event m = {
        .class_uid = OSH_OCSF_CLASS_BASE,
        .severity_id = OSH_OCSF_SEV_INFO,
        .message = "a\nb",
    };
    char buf[512];
    (void)state;

    expect_shorthand(&ev, "NET:OPEN [MED] DENIED evil bin(1) -> "
                          "host  2026-01-01T00:00:00.000Z OCSF FAKE:1 "
                          "[reason:line one line two  three]");
    assert_int_equal(osh_ocsf_log_line(&m, buf, sizeof(buf)), 0);
    assert_null(strchr(buf, '\n'));
    assert_non_null(strstr(buf, " OCSF EVENT [INFO] a b"));
}

static void
test_short_enospc(void **state)
{
    struct osh_ocsf_event ev = {
        .class_uid = OSH_OCSF_CLASS_BASE,
        .activity_id = OSH_OCSF_ACTIVITY_OTHER,
        .severity_id = OSH_OCSF_SEV_INFO,
        .message = "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", /* three euro signs */
    };
    char buf[64];
    (void)state;

    /* "EVENT [INFO] " is 13 bytes; 13 + 4 = 17 bytes of room in buf[18] */
    memset(buf, 'Z', sizeof(buf));
    assert_int_equal(osh_ocsf_shorthand(&ev, buf, 18), -ENOSPC);
    assert_string_equal(buf, "EVENT [INFO] \xe2\x82\xac");
    assert_int_equal(buf[18], 'Z'); /* nothing written past len */
    /* 13 + 9 bytes of text + NUL: 23 fits exactly, 22 loses the last sign */
    assert_int_equal(osh_ocsf_shorthand(&ev, buf, 23), 0);
    assert_string_equal(buf, "EVENT [INFO] \xe2\x82\xac\xe2\x82\xac\xe2\x82\xac");
    assert_int_equal(osh_ocsf_shorthand(&ev, buf, 22), -ENOSPC);
    assert_string_equal(buf, "EVENT [INFO] \xe2\x82\xac\xe2\x82\xac");
    assert_int_equal(osh_ocsf_shorthand(&ev, buf, 1), -ENOSPC);
    assert_string_equal(buf, "");
    assert_int_equal(osh_ocsf_shorthand(&ev, buf, 0), -ENOSPC);
    assert_int_equal(osh_ocsf_shorthand(&ev, NULL, 10), -EINVAL);
    assert_int_equal(osh_ocsf_shorthand(NULL, buf, 10), -EINVAL);
    ev.class_uid = (enum osh_ocsf_class)1234;
    assert_int_equal(osh_ocsf_shorthand(&ev, buf, sizeof(buf)), -EINVAL);

    /* log line: the timestamp prefix alone is 30 bytes */
    ev.class_uid = OSH_OCSF_CLASS_BASE;
    ev.time_ms = T_DOC;
    assert_int_equal(osh_ocsf_log_line(&ev, buf, 20), -ENOSPC);
    assert_string_equal(buf, "2026-04-01T04:04:32");
    assert_int_equal(osh_ocsf_log_line(&ev, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "2026-04-01T04:04:32.690Z OCSF EVENT [INFO] "
                             "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_denied_connect_order),
        cmocka_unit_test(test_jsonl_compact_prefix),
        cmocka_unit_test(test_json_base_event_and_unmapped),
        cmocka_unit_test(test_json_finding_config_lifecycle_process),
        cmocka_unit_test(test_json_bypass_and_bad_utf8),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_short_denied_connect),
        cmocka_unit_test(test_short_allowed_connect),
        cmocka_unit_test(test_short_bypass),
        cmocka_unit_test(test_short_http),
        cmocka_unit_test(test_short_proc),
        cmocka_unit_test(test_short_config),
        cmocka_unit_test(test_short_other_classes),
        cmocka_unit_test(test_short_msg_and_caps),
        cmocka_unit_test(test_short_newlines),
        cmocka_unit_test(test_short_enospc),
    };
    return cmocka_run_group_tests_name("ocsf", tests, NULL, NULL);
}
