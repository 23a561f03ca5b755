/*
 * default_policy.h - the bundled default policy (policies/default.yaml),
 * compiled into the binary so that the supervisor never runs without one.
 */
#ifndef OSH_SERVICE_DEFAULT_POLICY_H
#define OSH_SERVICE_DEFAULT_POLICY_H

#include <stddef.h>

extern const char osh_default_policy[];
extern const size_t osh_default_policy_len;

#endif /* OSH_SERVICE_DEFAULT_POLICY_H */
