/*
 * child_env.c - the entrypoint's environment, process.md §9.1.
 *
 * DESIGN
 * The array is built once in the parent (malloc is not allowed in the child)
 * as: the filtered inherited entries in their original order, then the
 * variables we set, in the order of §9.1.  A name we set is removed from the
 * inherited part instead of being overwritten in place, so the output never
 * holds a name twice and every set value is where a reader of this file
 * expects it.  Environments are small (tens to a few hundred entries), so
 * duplicate detection is a plain quadratic scan.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osh/process/child_env.h"

#define NO_PROXY_VALUE "127.0.0.1,localhost,::1"

/* Removed from the inherited environment (§9.1 step 2, plus OPENSHELL_TLS_*).
 * A trailing '*' makes the entry a prefix. */
static const char *const stripped_names[] = {
    "OPENSHELL_SANDBOX_TOKEN*",
    "OPENSHELL_K8S_SA_TOKEN_FILE",
    "OPENSHELL_PROVIDER_SPIFFE_WORKLOAD_API_SOCKET",
    "OPENSHELL_TLS_*",
};

/* §9.1 "Proxy vars (9, in this order)"; NULL value = the proxy URL. */
static const struct {
    const char *name;
    const char *value;
} proxy_vars[] = {
    {"ALL_PROXY", NULL},          {"HTTP_PROXY", NULL}, {"HTTPS_PROXY", NULL},
    {"NO_PROXY", NO_PROXY_VALUE}, {"http_proxy", NULL}, {"https_proxy", NULL},
    {"no_proxy", NO_PROXY_VALUE}, {"grpc_proxy", NULL}, {"NODE_USE_ENV_PROXY", "1"},
};

/* §9.1 "TLS vars (6)": true = the CA alone, false = the bundle. */
static const struct {
    const char *name;
    bool ca_only;
} tls_vars[] = {
    {"NODE_EXTRA_CA_CERTS", true}, {"DENO_CERT", true},       {"SSL_CERT_FILE", false},
    {"REQUESTS_CA_BUNDLE", false}, {"CURL_CA_BUNDLE", false}, {"GIT_SSL_CAINFO", false},
};

#define MAX_SET                                                                                    \
    (1 + sizeof(proxy_vars) / sizeof(proxy_vars[0]) + sizeof(tls_vars) / sizeof(tls_vars[0]) + 3)

/* The variables we set, collected before the inherited part is copied. */
struct env_set {
    const char *name[MAX_SET];
    const char *value[MAX_SET];
    size_t n;
};

static void set_add(struct env_set *s, const char *name, const char *value);
static bool set_has(const struct env_set *s, const char *name, size_t len);
static bool is_stripped(const char *name, size_t len);
static bool seen_before(const char *const *base, size_t i, const char *name, size_t len);
static char *make_entry(const char *name, const char *value);
static int ca_cert_path(const char *bundle, char *out, size_t len);
static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int
osh_child_env_build(const char *const *base_env, const char *proxy_url, const char *ca_bundle,
                    const struct osh_identity_ids *ids, const char *home, char ***out_envp,
                    char *err, size_t errlen)
{
    struct env_set set = {.n = 0};
    char ca_cert[PATH_MAX];
    char **env = NULL;
    size_t n_base = 0;
    size_t n = 0;

    if (out_envp == NULL) {
        seterr(err, errlen, "child env: no output");
        return -EINVAL;
    }
    *out_envp = NULL;
    if ((proxy_url != NULL && proxy_url[0] == '\0') || (home != NULL && home[0] == '\0') ||
        (ids != NULL && ids->user[0] == '\0')) {
        seterr(err, errlen, "child env: empty proxy URL, home or user name");
        return -EINVAL;
    }
    if (ca_bundle != NULL && ca_cert_path(ca_bundle, ca_cert, sizeof(ca_cert)) < 0) {
        seterr(err, errlen, "child env: CA bundle path '%s' is not an absolute file path",
               ca_bundle);
        return -EINVAL;
    }

    set_add(&set, "OPENSHELL_SANDBOX", "1");
    for (size_t i = 0; proxy_url != NULL && i < sizeof(proxy_vars) / sizeof(proxy_vars[0]); i++)
        set_add(&set, proxy_vars[i].name,
                proxy_vars[i].value != NULL ? proxy_vars[i].value : proxy_url);
    for (size_t i = 0; ca_bundle != NULL && i < sizeof(tls_vars) / sizeof(tls_vars[0]); i++)
        set_add(&set, tls_vars[i].name, tls_vars[i].ca_only ? ca_cert : ca_bundle);
    if (home != NULL || ids != NULL)
        set_add(&set, "HOME", home != NULL ? home : ids->home);
    if (ids != NULL) {
        set_add(&set, "USER", ids->user);
        set_add(&set, "LOGNAME", ids->user);
    }

    while (base_env != NULL && base_env[n_base] != NULL)
        n_base++;
    env = calloc(n_base + set.n + 1, sizeof(*env));
    if (env == NULL)
        goto nomem;
    for (size_t i = 0; i < n_base; i++) {
        const char *eq = strchr(base_env[i], '=');
        size_t len = eq != NULL ? (size_t)(eq - base_env[i]) : 0;

        if (len == 0 || is_stripped(base_env[i], len) || set_has(&set, base_env[i], len) ||
            seen_before(base_env, i, base_env[i], len))
            continue;
        env[n] = strdup(base_env[i]);
        if (env[n] == NULL)
            goto nomem;
        n++;
    }
    for (size_t i = 0; i < set.n; i++) {
        env[n] = make_entry(set.name[i], set.value[i]);
        if (env[n] == NULL)
            goto nomem;
        n++;
    }
    env[n] = NULL;
    *out_envp = env;
    return 0;
nomem:
    osh_child_env_free(env);
    env = NULL;
    seterr(err, errlen, "child env: out of memory");
    return -ENOMEM;
}

void
osh_child_env_free(char **envp)
{
    for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
        free(envp[i]);
        envp[i] = NULL;
    }
    free(envp);
}

static void
set_add(struct env_set *s, const char *name, const char *value)
{
    /* MAX_SET counts every name this file can set; more is a bug here. */
    if (s->n >= MAX_SET)
        abort();
    s->name[s->n] = name;
    s->value[s->n] = value;
    s->n++;
}

static bool
set_has(const struct env_set *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strlen(s->name[i]) == len && memcmp(s->name[i], name, len) == 0)
            return true;
    }
    return false;
}

static bool
is_stripped(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(stripped_names) / sizeof(stripped_names[0]); i++) {
        const char *s = stripped_names[i];
        size_t slen = strlen(s);

        if (s[slen - 1] == '*') {
            if (len >= slen - 1 && memcmp(name, s, slen - 1) == 0)
                return true;
        } else if (len == slen && memcmp(name, s, len) == 0) {
            return true;
        }
    }
    return false;
}

/* Whether an earlier valid entry of base has the same name. */
static bool
seen_before(const char *const *base, size_t i, const char *name, size_t len)
{
    for (size_t j = 0; j < i; j++) {
        if (strncmp(base[j], name, len) == 0 && base[j][len] == '=')
            return true;
    }
    return false;
}

static char *
make_entry(const char *name, const char *value)
{
    size_t nlen = strlen(name);
    size_t vlen = strlen(value);
    char *e = malloc(nlen + 1 + vlen + 1);

    if (e == NULL)
        return NULL;
    memcpy(e, name, nlen);
    e[nlen] = '=';
    memcpy(e + nlen + 1, value, vlen + 1);
    return e;
}

/* OSH_CHILD_ENV_CA_CERT_NAME in the directory of `bundle`, which must be
 * absolute and name a file ("/x/" or "/" is refused). */
static int
ca_cert_path(const char *bundle, char *out, size_t len)
{
    const char *slash = strrchr(bundle, '/');
    int n;

    if (bundle[0] != '/' || slash == NULL || slash[1] == '\0')
        return -EINVAL;
    n = snprintf(out, len, "%.*s/%s", (int)(slash - bundle), bundle, OSH_CHILD_ENV_CA_CERT_NAME);
    if (n < 0 || (size_t)n >= len)
        return -ENAMETOOLONG;
    return 0;
}

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
