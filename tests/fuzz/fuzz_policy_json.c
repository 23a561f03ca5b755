/*
 * fuzz_policy_json.c - libFuzzer harness: a policy document in JSON (the
 * jansson front end and its conversion to the document tree), loaded and
 * then queried; the driver and what it checks are in fuzz_policy_driver.h.
 */
#include "osh/policy.h"

#define FUZZ_FORMAT OSH_POLICY_FORMAT_JSON
#define FUZZ_NAME "fuzz.json"
#include "fuzz_policy_driver.h"
