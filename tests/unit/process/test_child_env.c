/*
 * test_child_env.c - osh_child_env_build(): the exact variable set of
 * process.md §9.1 for a proxy URL and CA files, the stripped supervisor-only
 * variables, no duplicates, NULL termination.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "osh/process/child_env.h"

#define URL "http://10.200.0.1:3128"
#define CA "/etc/openshell-tls/openshell-ca.pem"
#define BUNDLE "/etc/openshell-tls/ca-bundle.pem"
#define NOPROXY "127.0.0.1,localhost,::1"

static const char *const base[] = {
    "PATH=/usr/local/bin:/usr/bin:/bin",
    "OPENSHELL_SANDBOX=my-sandbox-name",
    "OPENSHELL_SANDBOX_ID=abc",
    "OPENSHELL_ENDPOINT=https://gw:443",
    "OPENSHELL_SANDBOX_TOKEN=jwt-secret",
    "OPENSHELL_SANDBOX_TOKEN_FILE=/var/run/token",
    "OPENSHELL_K8S_SA_TOKEN_FILE=/var/run/sa",
    "OPENSHELL_PROVIDER_SPIFFE_WORKLOAD_API_SOCKET=/run/spiffe/agent.sock",
    "OPENSHELL_TLS_CA=/etc/openshell-tls/client/ca.crt",
    "OPENSHELL_TLS_CERT=/etc/openshell-tls/client/tls.crt",
    "OPENSHELL_TLS_KEY=/etc/openshell-tls/client/tls.key",
    "HTTP_PROXY=http://elsewhere:8080",
    "HOME=/root",
    "USER=root",
    "LANG=C.UTF-8",
    "LANG=en_US.UTF-8", /* duplicate: the first wins, like getenv */
    "no-equals-sign",
    "=empty-name",
    "EMPTY=",
    NULL,
};

/* The full expected output, in order. */
static const char *const expected_full[] = {
    "PATH=/usr/local/bin:/usr/bin:/bin",
    "OPENSHELL_SANDBOX_ID=abc",
    "OPENSHELL_ENDPOINT=https://gw:443",
    "LANG=C.UTF-8",
    "EMPTY=",
    "OPENSHELL_SANDBOX=1",
    "ALL_PROXY=" URL,
    "HTTP_PROXY=" URL,
    "HTTPS_PROXY=" URL,
    "NO_PROXY=" NOPROXY,
    "http_proxy=" URL,
    "https_proxy=" URL,
    "no_proxy=" NOPROXY,
    "grpc_proxy=" URL,
    "NODE_USE_ENV_PROXY=1",
    "NODE_EXTRA_CA_CERTS=" CA,
    "DENO_CERT=" CA,
    "SSL_CERT_FILE=" BUNDLE,
    "REQUESTS_CA_BUNDLE=" BUNDLE,
    "CURL_CA_BUNDLE=" BUNDLE,
    "GIT_SSL_CAINFO=" BUNDLE,
    "HOME=/sandbox",
    "USER=sandbox",
    "LOGNAME=sandbox",
    NULL,
};

static size_t
count(char **env)
{
    size_t n = 0;

    while (env[n] != NULL)
        n++;
    return n;
}

static void
assert_no_duplicates(char **env)
{
    for (size_t i = 0; env[i] != NULL; i++) {
        size_t len = strcspn(env[i], "=");

        assert_true(env[i][len] == '=' && len > 0);
        for (size_t j = i + 1; env[j] != NULL; j++) {
            if (strncmp(env[i], env[j], len) == 0 && env[j][len] == '=')
                fail_msg("duplicate %.*s", (int)len, env[i]);
        }
    }
}

static bool
has_name(char **env, const char *name)
{
    size_t len = strlen(name);

    for (size_t i = 0; env[i] != NULL; i++) {
        if (strncmp(env[i], name, len) == 0 && env[i][len] == '=')
            return true;
    }
    return false;
}

static struct osh_identity_ids
sandbox_ids(void)
{
    struct osh_identity_ids ids = {.uid = 999, .gid = 995, .groups = {995}, .n_groups = 1};

    snprintf(ids.user, sizeof(ids.user), "sandbox");
    snprintf(ids.home, sizeof(ids.home), "/sandbox");
    return ids;
}

static void
test_full_set(void **state)
{
    struct osh_identity_ids ids = sandbox_ids();
    char **env = NULL;
    char err[256];
    size_t n;

    (void)state;
    assert_int_equal(osh_child_env_build(base, URL, BUNDLE, &ids, NULL, &env, err, sizeof(err)), 0);
    n = count(env);
    for (size_t i = 0; i < n && expected_full[i] != NULL; i++)
        assert_string_equal(env[i], expected_full[i]);
    assert_int_equal(n, sizeof(expected_full) / sizeof(expected_full[0]) - 1);
    assert_null(env[n]);
    assert_no_duplicates(env);
    osh_child_env_free(env);
}

static void
test_stripped(void **state)
{
    static const char *const names[] = {
        "OPENSHELL_SANDBOX_TOKEN",
        "OPENSHELL_SANDBOX_TOKEN_FILE",
        "OPENSHELL_K8S_SA_TOKEN_FILE",
        "OPENSHELL_PROVIDER_SPIFFE_WORKLOAD_API_SOCKET",
        "OPENSHELL_TLS_CA",
        "OPENSHELL_TLS_CERT",
        "OPENSHELL_TLS_KEY",
    };
    char **env = NULL;
    char err[256];

    (void)state;
    /* Stripped even with nothing else configured. */
    assert_int_equal(osh_child_env_build(base, NULL, NULL, NULL, NULL, &env, err, sizeof(err)), 0);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (has_name(env, names[i]))
            fail_msg("%s leaked to the child", names[i]);
    }
    for (size_t i = 0; env[i] != NULL; i++)
        assert_null(strstr(env[i], "jwt-secret"));
    assert_no_duplicates(env);
    osh_child_env_free(env);
}

/* Without a proxy, CA or identity: inherited values stay, only
 * OPENSHELL_SANDBOX is set. */
static void
test_minimal(void **state)
{
    static const char *const expected[] = {
        "PATH=/usr/local/bin:/usr/bin:/bin",
        "OPENSHELL_SANDBOX_ID=abc",
        "OPENSHELL_ENDPOINT=https://gw:443",
        "HTTP_PROXY=http://elsewhere:8080",
        "HOME=/root",
        "USER=root",
        "LANG=C.UTF-8",
        "EMPTY=",
        "OPENSHELL_SANDBOX=1",
        NULL,
    };
    char **env = NULL;
    char err[256];

    (void)state;
    assert_int_equal(osh_child_env_build(base, NULL, NULL, NULL, NULL, &env, err, sizeof(err)), 0);
    for (size_t i = 0; expected[i] != NULL; i++) {
        assert_non_null(env[i]);
        assert_string_equal(env[i], expected[i]);
    }
    assert_int_equal(count(env), sizeof(expected) / sizeof(expected[0]) - 1);
    osh_child_env_free(env);
}

/* An explicit home wins over the passwd home; a NULL base is an empty one. */
static void
test_home_override_and_null_base(void **state)
{
    struct osh_identity_ids ids = sandbox_ids();
    char **env = NULL;
    char err[256];

    (void)state;
    assert_int_equal(osh_child_env_build(NULL, NULL, NULL, &ids, "/work", &env, err, sizeof(err)),
                     0);
    assert_int_equal(count(env), 4);
    assert_string_equal(env[0], "OPENSHELL_SANDBOX=1");
    assert_string_equal(env[1], "HOME=/work");
    assert_string_equal(env[2], "USER=sandbox");
    assert_string_equal(env[3], "LOGNAME=sandbox");
    assert_null(env[4]);
    osh_child_env_free(env);
}

static void
test_invalid(void **state)
{
    char **env = (char **)1;
    char err[256];

    (void)state;
    assert_int_equal(
        osh_child_env_build(base, URL, "ca-bundle.pem", NULL, NULL, &env, err, sizeof(err)),
        -EINVAL);
    assert_null(env);
    assert_int_equal(osh_child_env_build(base, URL, "/etc/", NULL, NULL, &env, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(osh_child_env_build(base, "", NULL, NULL, NULL, &env, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(osh_child_env_build(base, NULL, NULL, NULL, NULL, NULL, err, sizeof(err)),
                     -EINVAL);
    osh_child_env_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_set), cmocka_unit_test(test_stripped),
        cmocka_unit_test(test_minimal),  cmocka_unit_test(test_home_override_and_null_base),
        cmocka_unit_test(test_invalid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
