/*
 * special_hosts.h - the hosts the proxy answers itself instead of asking the
 * policy (policy.md §4).  Pure functions, any thread.
 */
#ifndef OSH_SPECIAL_HOSTS_H
#define OSH_SPECIAL_HOSTS_H

#include <stdbool.h>
#include <stdint.h>

enum osh_special_host {
    OSH_SPECIAL_NONE = 0,
    OSH_SPECIAL_INFERENCE, /* CONNECT inference.local:443: no policy, no SSRF */
    OSH_SPECIAL_POLICY_LOCAL, /* forward-proxy http://policy.local[:80]/... */
    OSH_SPECIAL_POLICY_LOCAL_BAD_SCHEME, /* policy.local by another scheme/port: 400 */
};

/*
 * Classifies a request target.  `connect` is true for CONNECT (host:port),
 * false for the forward proxy, where `scheme` is "http" or "https".
 * Host compares are case-insensitive.  Only CONNECT inference.local:443 is
 * special for inference; plain http://inference.local and other ports go
 * through policy as usual.  CONNECT policy.local:443 is not special either.
 */
enum osh_special_host osh_special_host_classify(const char *host, uint16_t port, bool connect,
                                                const char *scheme);

/* Whether a request inside the inference.local tunnel matches a built-in
 * inference route: POST /v1/{chat/completions,completions,responses,
 * embeddings,messages} or GET /v1/models[/...].  `path` is canonical, no
 * query; the method compare is case-insensitive. */
bool osh_inference_route_allowed(const char *method, const char *path);

#endif /* OSH_SPECIAL_HOSTS_H */
