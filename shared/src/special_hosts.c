/*
 * special_hosts.c - inference.local and policy.local (policy.md §4).
 */
#include <string.h>
#include <strings.h>

#include "osh/special_hosts.h"

enum osh_special_host
osh_special_host_classify(const char *host, uint16_t port, bool connect, const char *scheme)
{
    if (host == NULL)
        return OSH_SPECIAL_NONE;
    if (connect)
        return strcasecmp(host, "inference.local") == 0 && port == 443 ? OSH_SPECIAL_INFERENCE
                                                                       : OSH_SPECIAL_NONE;
    if (strcasecmp(host, "policy.local") != 0)
        return OSH_SPECIAL_NONE;
    if (scheme != NULL && strcasecmp(scheme, "http") == 0 && port == 80)
        return OSH_SPECIAL_POLICY_LOCAL;
    return OSH_SPECIAL_POLICY_LOCAL_BAD_SCHEME;
}

bool
osh_inference_route_allowed(const char *method, const char *path)
{
    static const char *const post_paths[] = {"/v1/chat/completions", "/v1/completions",
                                             "/v1/responses", "/v1/embeddings", "/v1/messages",
                                             NULL};

    if (method == NULL || path == NULL)
        return false;
    if (strcasecmp(method, "POST") == 0) {
        for (const char *const *p = post_paths; *p; p++)
            if (strcmp(path, *p) == 0)
                return true;
        return false;
    }
    if (strcasecmp(method, "GET") == 0)
        return strcmp(path, "/v1/models") == 0 || strncmp(path, "/v1/models/", 11) == 0;
    return false;
}
