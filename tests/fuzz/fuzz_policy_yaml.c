/*
 * fuzz_policy_yaml.c - libFuzzer harness: a policy document in YAML (the
 * libyaml front end), loaded and then queried; the driver and what it
 * checks are in fuzz_policy_driver.h.
 */
#include "osh/policy.h"

#define FUZZ_FORMAT OSH_POLICY_FORMAT_YAML
#define FUZZ_NAME "fuzz.yaml"
#include "fuzz_policy_driver.h"
