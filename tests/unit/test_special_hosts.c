/*
 * test_special_hosts.c - inference.local / policy.local classification and
 * the built-in inference routes (policy.md §4).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "osh/special_hosts.h"

static void
test_classify(void **state)
{
    (void)state;
    assert_int_equal(osh_special_host_classify("inference.local", 443, true, NULL),
                     OSH_SPECIAL_INFERENCE);
    assert_int_equal(osh_special_host_classify("Inference.LOCAL", 443, true, NULL),
                     OSH_SPECIAL_INFERENCE);
    assert_int_equal(osh_special_host_classify("inference.local", 8443, true, NULL),
                     OSH_SPECIAL_NONE);
    assert_int_equal(osh_special_host_classify("inference.local", 80, false, "http"),
                     OSH_SPECIAL_NONE);
    assert_int_equal(osh_special_host_classify("policy.local", 443, true, NULL),
                     OSH_SPECIAL_NONE);
    assert_int_equal(osh_special_host_classify("policy.local", 80, false, "http"),
                     OSH_SPECIAL_POLICY_LOCAL);
    assert_int_equal(osh_special_host_classify("POLICY.local", 80, false, "HTTP"),
                     OSH_SPECIAL_POLICY_LOCAL);
    assert_int_equal(osh_special_host_classify("policy.local", 8080, false, "http"),
                     OSH_SPECIAL_POLICY_LOCAL_BAD_SCHEME);
    assert_int_equal(osh_special_host_classify("policy.local", 443, false, "https"),
                     OSH_SPECIAL_POLICY_LOCAL_BAD_SCHEME);
    assert_int_equal(osh_special_host_classify("example.com", 443, true, NULL),
                     OSH_SPECIAL_NONE);
    assert_int_equal(osh_special_host_classify(NULL, 443, true, NULL), OSH_SPECIAL_NONE);
}

static void
test_inference_routes(void **state)
{
    (void)state;
    assert_true(osh_inference_route_allowed("POST", "/v1/chat/completions"));
    assert_true(osh_inference_route_allowed("post", "/v1/completions"));
    assert_true(osh_inference_route_allowed("POST", "/v1/responses"));
    assert_true(osh_inference_route_allowed("POST", "/v1/embeddings"));
    assert_true(osh_inference_route_allowed("POST", "/v1/messages"));
    assert_true(osh_inference_route_allowed("GET", "/v1/models"));
    assert_true(osh_inference_route_allowed("get", "/v1/models/gpt-x"));
    assert_false(osh_inference_route_allowed("GET", "/v1/chat/completions"));
    assert_false(osh_inference_route_allowed("POST", "/v1/models"));
    assert_false(osh_inference_route_allowed("POST", "/v1/chat/completions/"));
    assert_false(osh_inference_route_allowed("GET", "/v1/modelsx"));
    assert_false(osh_inference_route_allowed("DELETE", "/v1/models/x"));
    assert_false(osh_inference_route_allowed(NULL, "/v1/models"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_inference_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
