/*
 * child_env.h - the entrypoint's environment (process.md §9.1), built in the
 * parent before the spawn: the child only passes the array to execve.
 *
 * Lifecycle: osh_child_env_build() per spawn → osh_spawn(envp) →
 * osh_child_env_free().  Any thread; no shared state.
 */
#ifndef OSH_PROCESS_CHILD_ENV_H
#define OSH_PROCESS_CHILD_ENV_H

#include <stddef.h>

#include "osh/process/spawn.h"

/* The sandbox CA alone, next to the bundle (network.md, process.md §9.1). */
#define OSH_CHILD_ENV_CA_CERT_NAME "openshell-ca.pem"

/*
 * Builds the child environment from `base_env` (the supervisor's environ,
 * NULL-terminated; only read):
 *  - entries without '=' or with an empty name are dropped; of duplicate
 *    names the first is kept (what getenv sees);
 *  - removed (supervisor-only): OPENSHELL_SANDBOX_TOKEN*,
 *    OPENSHELL_K8S_SA_TOKEN_FILE, OPENSHELL_PROVIDER_SPIFFE_WORKLOAD_API_SOCKET,
 *    OPENSHELL_TLS_* (the supervisor's gateway mTLS paths; the reference
 *    keeps these, we do not hand them to the workload);
 *  - then appended, each replacing any inherited value, in this order:
 *    OPENSHELL_SANDBOX=1;
 *    if proxy_url: ALL_PROXY HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy
 *      https_proxy no_proxy grpc_proxy NODE_USE_ENV_PROXY=1, with
 *      NO_PROXY/no_proxy = "127.0.0.1,localhost,::1";
 *    if ca_bundle: SSL_CERT_FILE REQUESTS_CA_BUNDLE CURL_CA_BUNDLE
 *      GIT_SSL_CAINFO = ca_bundle (system CAs + sandbox CA), and
 *      NODE_EXTRA_CA_CERTS DENO_CERT = the sandbox CA alone, which is
 *      OSH_CHILD_ENV_CA_CERT_NAME in ca_bundle's directory (the network half
 *      writes both there: /etc/openshell-tls/{ca-bundle,openshell-ca}.pem);
 *    HOME = home, else ids->home (when ids); USER and LOGNAME = ids->user
 *      (when ids).
 * proxy_url: "http://10.200.0.1:3128" or NULL (not proxy mode).  ca_bundle:
 * an absolute path or NULL (no TLS termination).  ids, home: NULL to keep
 * the inherited values;
 * ids->user must be set (osh_resolve_user fills it).
 *
 * Returns 0 and a NULL-terminated, malloc'd array in *out_envp (free with
 * osh_child_env_free), or -EINVAL / -ENOMEM with a message in err.
 */
int osh_child_env_build(const char *const *base_env, const char *proxy_url, const char *ca_bundle,
                        const struct osh_identity_ids *ids, const char *home, char ***out_envp,
                        char *err, size_t errlen);

/* Frees an array from osh_child_env_build(); NULL is fine. */
void osh_child_env_free(char **envp);

#endif /* OSH_PROCESS_CHILD_ENV_H */
