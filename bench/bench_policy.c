/*
 * bench_policy.c - decision benchmark for the policy engine: ns per L4 and
 * L7 decision, with one and two threads on one shared generation, and the
 * load+compile time, for generated policies of 10 / 100 / 1,000 / 10,000
 * network policies.
 *
 * The policies are YAML built in memory and loaded with
 * osh_policy_load_buffer(), as the service loads a file.  The mix (per
 * endpoint, drawn from a fixed-seed PRNG so every run measures the same
 * document):
 *   - 70% exact hosts svcN.example.com on port 443,
 *   - 20% wildcard hosts *.zoneN.example.org on port 443,
 *   - 10% exact hosts svcN.example.com with ports [443, 8443];
 *   - every 5th endpoint is L7: protocol rest, enforcement enforce, 3 allow
 *     rules and 1 deny rule;
 *   - 1-3 endpoints and 1-2 binaries per policy; the first binary is an
 *     exact /usr/bin/toolN (70%) or a glob /opt/toolN/bin/ + '*' (30%).
 * Each host is unique, so a request matches one policy.
 *
 * Request sets (4096 requests each, precomputed; every request's expected
 * decision is checked once before timing, and again by count while timing,
 * which also keeps the work from being optimized away):
 *   - L4 allow: random endpoints with their policy's binary (exact and
 *     wildcard hosts in the document's proportions);
 *   - L4 mixed: a quarter each of allowed exact host, allowed wildcard host,
 *     unknown host (no endpoint) and wrong binary (the deny reason, with the
 *     symlink hint, is built);
 *   - L7: on L7 endpoints, half allowed (GET, POST), half denied (a deny
 *     rule vetoing a GET, a method no rule allows).
 *
 * Each measurement stops after a time budget (default 400 ms; argv[1] in
 * ms) or BENCH_MAX_ITERS decisions per thread, whichever comes first, and is
 * run BENCH_REPEAT times: the row reports the best run (the machine is
 * shared; the best run is the least disturbed one).  Every decision
 * includes osh_decision_result_clear(), as a caller would.  Load+compile is
 * the best of up to BENCH_COMPILE_RUNS loads.
 *
 * Usage: bench_policy [ms-per-measurement]
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "osh/diag.h"
#include "osh/policy.h"

#define BENCH_POOL 4096u             /* requests per set (power of two) */
#define BENCH_BATCH 256u             /* decisions between clock reads */
#define BENCH_MAX_ITERS 20000000ull  /* per thread and measurement */
#define BENCH_MAX_THREADS 2
#define BENCH_REPEAT 3 /* runs per row; the best (least disturbed) is kept */
#define BENCH_COMPILE_RUNS 5
#define BENCH_COMPILE_BUDGET_NS 3000000000ull
#define STR 64

static const size_t sizes[] = {10, 100, 1000, 10000};

/* ---- generation ------------------------------------------------------ */

struct rng {
    uint64_t s;
};

/* One endpoint of the generated document, with a host that matches it. */
struct gen_ep {
    char host[STR]; /* a concrete host: api.zoneN.example.org for wildcards */
    uint16_t port;  /* 443, or 8443 for half of the multi-port endpoints */
    uint32_t net;
    bool wildcard;
    bool l7;
};

struct gen {
    char *yaml;
    size_t len, cap;
    bool oom;
    struct gen_ep *eps;
    size_t n_eps;
    char (*bin)[STR]; /* per policy: a binary its first entry allows */
    size_t n_nets;
};

enum req_kind { REQ_L4_ALLOW, REQ_L4_MIXED, REQ_L7, REQ__COUNT };

static const char *const kind_name[REQ__COUNT] = {"L4 allow", "L4 mixed", "L7"};

struct req {
    struct osh_l4_request l4;
    struct osh_l7_request l7;
    enum osh_decision expect;
};

struct reqset {
    struct req r[BENCH_POOL];
    size_t n_allow; /* expected allows in the set */
};

/* One thread's share of one measurement. */
struct worker {
    pthread_t tid;
    const struct osh_policy *p;
    const struct reqset *sets;
    pthread_barrier_t *barrier;
    uint64_t budget_ns;
    unsigned idx;
    uint64_t iters[REQ__COUNT];
    uint64_t ns[REQ__COUNT];
    uint64_t allows[REQ__COUNT];
    uint64_t expected_allows[REQ__COUNT];
    int err;
};

struct row {
    double ns[REQ__COUNT]; /* per decision, mean over threads */
    double agg_kdps;       /* aggregate L4 mixed, thousand decisions/s */
    bool checked;          /* every decision was as expected */
};

static uint64_t rng_next(struct rng *r);
static uint32_t rng_below(struct rng *r, uint32_t n);
static void gen_printf(struct gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int gen_build(struct gen *g, size_t n_nets);
static void gen_free(struct gen *g);
static int reqsets_build(struct reqset *sets, const struct gen *g);
static int reqsets_verify(const struct osh_policy *p, const struct reqset *sets);
static uint64_t now_ns(void);
static int decide(const struct osh_policy *p, const struct req *q, enum req_kind k);
static void *worker_main(void *arg);
static int measure(const struct osh_policy *p, const struct reqset *sets, unsigned threads,
                   uint64_t budget_ns, struct row *out);
static struct osh_policy *load_timed(const struct gen *g, double *ms);

static uint64_t
rng_next(struct rng *r)
{
    /* splitmix64: fixed seed, so every run builds the same documents. */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t
rng_below(struct rng *r, uint32_t n)
{
    return (uint32_t)(rng_next(r) % n);
}

static void
gen_printf(struct gen *g, const char *fmt, ...)
{
    va_list ap;
    int need;

    if (g->oom)
        return;
    for (;;) {
        size_t room = g->cap - g->len;
        va_start(ap, fmt);
        need = vsnprintf(g->yaml + g->len, room, fmt, ap);
        va_end(ap);
        if (need < 0) {
            g->oom = true;
            return;
        }
        if ((size_t)need < room) {
            g->len += (size_t)need;
            return;
        }
        size_t ncap = g->cap * 2;
        while (ncap < g->len + (size_t)need + 1)
            ncap *= 2;
        char *n = realloc(g->yaml, ncap);
        if (n == NULL) {
            g->oom = true;
            return;
        }
        g->yaml = n;
        g->cap = ncap;
    }
}

/* Builds the document for `n_nets` policies (compact flow style, one line
 * per policy) and the endpoint and binary tables.  0 or -ENOMEM. */
static int
gen_build(struct gen *g, size_t n_nets)
{
    struct rng rng = {.s = 0x05e11u + n_nets};
    size_t max_eps = 3 * n_nets;

    memset(g, 0, sizeof(*g));
    g->cap = 4096;
    g->yaml = malloc(g->cap);
    g->eps = calloc(max_eps, sizeof(*g->eps));
    g->bin = calloc(n_nets, sizeof(*g->bin));
    if (g->yaml == NULL || g->eps == NULL || g->bin == NULL)
        return -ENOMEM;
    g->n_nets = n_nets;
    gen_printf(g, "version: 1\nnetwork_policies:\n");
    for (size_t i = 0; i < n_nets; i++) {
        uint32_t n_ep = 1 + rng_below(&rng, 3);
        bool glob_bin = rng_below(&rng, 10) < 3;

        gen_printf(g, "  p%05zu: {endpoints: [", i);
        for (uint32_t j = 0; j < n_ep; j++) {
            struct gen_ep *e = &g->eps[g->n_eps];
            size_t id = g->n_eps++;
            uint32_t kind = rng_below(&rng, 10);

            e->net = (uint32_t)i;
            e->l7 = id % 5 == 4;
            e->port = 443;
            if (kind < 7) {
                snprintf(e->host, sizeof(e->host), "svc%zu.example.com", id);
                gen_printf(g, "%s{host: %s, port: 443", j ? ", " : "", e->host);
            } else if (kind < 9) {
                e->wildcard = true;
                snprintf(e->host, sizeof(e->host), "api.zone%zu.example.org", id);
                gen_printf(g, "%s{host: '*.zone%zu.example.org', port: 443", j ? ", " : "", id);
            } else {
                snprintf(e->host, sizeof(e->host), "svc%zu.example.com", id);
                e->port = rng_below(&rng, 2) ? 8443 : 443;
                gen_printf(g, "%s{host: %s, ports: [443, 8443]", j ? ", " : "", e->host);
            }
            if (e->l7)
                gen_printf(g, ", protocol: rest, enforcement: enforce, rules: ["
                              "{allow: {method: GET, path: '/v1/**'}}, "
                              "{allow: {method: POST, path: /v1/items}}, "
                              "{allow: {method: PUT, path: '/v1/items/*'}}], "
                              "deny_rules: [{method: '*', path: '/v1/admin/**'}]");
            gen_printf(g, "}");
        }
        if (glob_bin) {
            snprintf(g->bin[i], sizeof(g->bin[i]), "/opt/tool%zu/bin/run", i);
            gen_printf(g, "], binaries: [{path: '/opt/tool%zu/bin/*'}", i);
        } else {
            snprintf(g->bin[i], sizeof(g->bin[i]), "/usr/bin/tool%zu", i % 100);
            gen_printf(g, "], binaries: [{path: %s}", g->bin[i]);
        }
        if (rng_below(&rng, 2))
            gen_printf(g, ", {path: /usr/local/bin/helper%zu}", i % 20);
        gen_printf(g, "]}\n");
    }
    return g->oom ? -ENOMEM : 0;
}

static void
gen_free(struct gen *g)
{
    free(g->yaml);
    g->yaml = NULL;
    free(g->eps);
    g->eps = NULL;
    free(g->bin);
    g->bin = NULL;
}

/* Fills the three request sets from the generation.  The strings point into
 * `g` and into static storage.  0, or -ENOENT when the document has no
 * endpoint of a needed kind. */
static int
reqsets_build(struct reqset *sets, const struct gen *g)
{
    static const char *const l7_method[4] = {"GET", "POST", "GET", "DELETE"};
    static const char *const l7_path[4] = {"/v1/items/42", "/v1/items", "/v1/admin/users",
                                           "/v1/items/42"};
    static const enum osh_decision l7_expect[4] = {OSH_DECISION_ALLOW, OSH_DECISION_ALLOW,
                                                   OSH_DECISION_DENY, OSH_DECISION_DENY};
    /* Unknown hosts and wrong binaries: static, so their pointers outlive
     * this function (names need not vary: neither is in any index). */
    static const char unknown_host[] = "unknown.example.com";
    static const char wrong_bin[] = "/usr/bin/not-a-tool";
    struct rng rng = {.s = 0xbe4c4u};
    size_t *exact = NULL, *wild = NULL, *l7 = NULL;
    size_t n_exact = 0, n_wild = 0, n_l7 = 0;
    int rc = -ENOMEM;

    exact = malloc(g->n_eps * sizeof(*exact));
    wild = malloc(g->n_eps * sizeof(*wild));
    l7 = malloc(g->n_eps * sizeof(*l7));
    if (exact == NULL || wild == NULL || l7 == NULL)
        goto out;
    for (size_t i = 0; i < g->n_eps; i++) {
        if (g->eps[i].wildcard)
            wild[n_wild++] = i;
        else
            exact[n_exact++] = i;
        if (g->eps[i].l7)
            l7[n_l7++] = i;
    }
    rc = -ENOENT;
    if (n_exact == 0 || n_wild == 0 || n_l7 == 0)
        goto out;

    memset(sets, 0, REQ__COUNT * sizeof(*sets));
    for (size_t i = 0; i < BENCH_POOL; i++) {
        const struct gen_ep *e = &g->eps[rng_below(&rng, (uint32_t)g->n_eps)];
        struct req *q = &sets[REQ_L4_ALLOW].r[i];

        q->l4 = (struct osh_l4_request){.host = e->host, .port = e->port,
                                        .binary = g->bin[e->net]};
        q->expect = OSH_DECISION_ALLOW;

        q = &sets[REQ_L4_MIXED].r[i];
        switch (i % 4) {
        case 0:
            e = &g->eps[exact[rng_below(&rng, (uint32_t)n_exact)]];
            q->l4 = (struct osh_l4_request){.host = e->host, .port = e->port,
                                            .binary = g->bin[e->net]};
            q->expect = OSH_DECISION_ALLOW;
            break;
        case 1:
            e = &g->eps[wild[rng_below(&rng, (uint32_t)n_wild)]];
            q->l4 = (struct osh_l4_request){.host = e->host, .port = e->port,
                                            .binary = g->bin[e->net]};
            q->expect = OSH_DECISION_ALLOW;
            break;
        case 2:
            q->l4 = (struct osh_l4_request){.host = unknown_host, .port = 443,
                                            .binary = "/usr/bin/tool1"};
            q->expect = OSH_DECISION_DENY;
            break;
        default:
            e = &g->eps[exact[rng_below(&rng, (uint32_t)n_exact)]];
            q->l4 = (struct osh_l4_request){.host = e->host, .port = e->port,
                                            .binary = wrong_bin};
            q->expect = OSH_DECISION_DENY;
            break;
        }

        e = &g->eps[l7[rng_below(&rng, (uint32_t)n_l7)]];
        q = &sets[REQ_L7].r[i];
        q->l4 = (struct osh_l4_request){.host = e->host, .port = e->port,
                                        .binary = g->bin[e->net]};
        q->l7 = (struct osh_l7_request){.method = l7_method[i % 4], .path = l7_path[i % 4]};
        q->expect = l7_expect[i % 4];
    }
    for (int k = 0; k < REQ__COUNT; k++)
        for (size_t i = 0; i < BENCH_POOL; i++)
            sets[k].n_allow += sets[k].r[i].expect == OSH_DECISION_ALLOW;
    rc = 0;
out:
    free(exact);
    free(wild);
    free(l7);
    return rc;
}

/* One decision of kind `k`: 1 if allowed, 0 if not, or a negative errno. */
static int
decide(const struct osh_policy *p, const struct req *q, enum req_kind k)
{
    struct osh_decision_result r = {0};
    int rc;

    rc = k == REQ_L7 ? osh_policy_eval_l7(p, &q->l4, &q->l7, &r)
                     : osh_policy_eval_l4(p, &q->l4, &r);
    if (rc == 0)
        rc = r.decision == OSH_DECISION_ALLOW;
    osh_decision_result_clear(&r);
    return rc;
}

/* Checks every request once against its expected decision. */
static int
reqsets_verify(const struct osh_policy *p, const struct reqset *sets)
{
    for (int k = 0; k < REQ__COUNT; k++) {
        for (size_t i = 0; i < BENCH_POOL; i++) {
            const struct req *q = &sets[k].r[i];
            int rc = decide(p, q, (enum req_kind)k);
            if (rc < 0 || rc != (q->expect == OSH_DECISION_ALLOW)) {
                fprintf(stderr, "bench_policy: %s request %zu (%s:%u by %s%s%s) decided %d\n",
                        kind_name[k], i, q->l4.host, q->l4.port, q->l4.binary,
                        k == REQ_L7 ? ", " : "", k == REQ_L7 ? q->l7.path : "", rc);
                return -EINVAL;
            }
        }
    }
    return 0;
}

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Runs the three measurements in order; the barrier starts both threads on
 * each one together.  Threads start at different offsets in the set. */
static void *
worker_main(void *arg)
{
    struct worker *w = arg;

    for (int k = 0; k < REQ__COUNT; k++) {
        const struct reqset *set = &w->sets[k];
        size_t pos = (size_t)w->idx * (BENCH_POOL / 2);
        uint64_t n = 0, allows = 0, expected = 0, t0, t1;

        pthread_barrier_wait(w->barrier);
        t0 = t1 = now_ns();
        while (t1 - t0 < w->budget_ns && n < BENCH_MAX_ITERS) {
            for (unsigned b = 0; b < BENCH_BATCH; b++) {
                const struct req *q = &set->r[pos];
                int rc = decide(w->p, q, (enum req_kind)k);
                if (rc < 0) {
                    w->err = rc;
                    return NULL;
                }
                allows += (uint64_t)rc;
                expected += q->expect == OSH_DECISION_ALLOW;
                pos = (pos + 1) & (BENCH_POOL - 1);
            }
            n += BENCH_BATCH;
            t1 = now_ns();
        }
        w->iters[k] = n;
        w->ns[k] = t1 - t0;
        w->allows[k] = allows;
        w->expected_allows[k] = expected;
    }
    return NULL;
}

static int
measure(const struct osh_policy *p, const struct reqset *sets, unsigned threads,
        uint64_t budget_ns, struct row *out)
{
    struct worker w[BENCH_MAX_THREADS];
    pthread_barrier_t barrier;
    unsigned started = 0;
    int rc = 0;

    memset(w, 0, sizeof(w));
    memset(out, 0, sizeof(*out));
    if ((rc = pthread_barrier_init(&barrier, NULL, threads)) != 0)
        return -rc;
    for (; started < threads; started++) {
        w[started] = (struct worker){.p = p, .sets = sets, .barrier = &barrier,
                                     .budget_ns = budget_ns, .idx = started};
        if ((rc = pthread_create(&w[started].tid, NULL, worker_main, &w[started])) != 0)
            break;
    }
    if (rc != 0) {
        /* The started threads wait at the barrier forever: nothing to undo. */
        fprintf(stderr, "bench_policy: pthread_create: %s\n", strerror(rc));
        exit(1);
    }
    out->checked = true;
    for (unsigned t = 0; t < threads; t++) {
        pthread_join(w[t].tid, NULL);
        if (w[t].err < 0)
            rc = w[t].err;
        for (int k = 0; k < REQ__COUNT; k++) {
            out->ns[k] += (double)w[t].ns[k] / (double)w[t].iters[k] / threads;
            out->checked &= w[t].allows[k] == w[t].expected_allows[k];
        }
    }
    if (rc == 0) {
        uint64_t total = 0, longest = 0;
        for (unsigned t = 0; t < threads; t++) {
            total += w[t].iters[REQ_L4_MIXED];
            longest = w[t].ns[REQ_L4_MIXED] > longest ? w[t].ns[REQ_L4_MIXED] : longest;
        }
        out->agg_kdps = (double)total / ((double)longest / 1e9) / 1e3;
    }
    pthread_barrier_destroy(&barrier);
    return rc;
}

/* Loads the generation up to BENCH_COMPILE_RUNS times (bounded by
 * BENCH_COMPILE_BUDGET_NS) and keeps the fastest time; returns the last
 * generation, or NULL with the diagnostics printed. */
static struct osh_policy *
load_timed(const struct gen *g, double *ms)
{
    struct osh_policy *p = NULL;
    uint64_t best = UINT64_MAX, start = now_ns();

    for (int run = 0; run < BENCH_COMPILE_RUNS; run++) {
        struct osh_diags d = {0};
        uint64_t t0 = now_ns(), t;

        osh_policy_unref(p);
        p = osh_policy_load_buffer("bench.yaml", g->yaml, g->len, OSH_POLICY_FORMAT_YAML, &d);
        t = now_ns() - t0;
        if (p == NULL) {
            osh_diags_print(&d, stderr, false);
            osh_diags_clear(&d);
            return NULL;
        }
        osh_diags_clear(&d);
        best = t < best ? t : best;
        if (now_ns() - start > BENCH_COMPILE_BUDGET_NS)
            break;
    }
    *ms = (double)best / 1e6;
    return p;
}

int
main(int argc, char **argv)
{
    uint64_t budget_ns = 400ull * 1000000ull;
    struct reqset *sets = NULL;
    bool all_ok = true;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    if (argc > 1) {
        char *end;
        long ms = strtol(argv[1], &end, 10);
        if (*end != '\0' || ms < 1 || ms > 60000) {
            fprintf(stderr, "usage: %s [ms-per-measurement (1..60000)]\n", argv[0]);
            return 2;
        }
        budget_ns = (uint64_t)ms * 1000000ull;
    }
    sets = calloc(REQ__COUNT, sizeof(*sets));
    if (sets == NULL)
        return 1;

    printf("bench_policy: %ld online CPUs; each measurement %llu ms or %llu decisions per "
           "thread, best of %d; ns are per decision and thread (mean over threads); "
           "agg = aggregate L4 mixed throughput of all threads\n\n",
           ncpu, (unsigned long long)(budget_ns / 1000000ull), BENCH_MAX_ITERS, BENCH_REPEAT);
    printf("| policies | endpoints | YAML KiB | threads | L4 allow ns | L4 mixed ns | L7 ns | "
           "compile ms | agg kdec/s |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        struct gen g;
        struct osh_policy *p = NULL;
        double ms = 0;

        if (gen_build(&g, sizes[s]) < 0 || reqsets_build(sets, &g) < 0) {
            fprintf(stderr, "bench_policy: cannot generate %zu policies\n", sizes[s]);
            gen_free(&g);
            free(sets);
            return 1;
        }
        if (g.len > OSH_POLICY_MAX_BYTES) {
            /* The loader refuses it before parsing: not a measurement. */
            printf("| %zu | %zu | %.0f | - | n/a | n/a | n/a | n/a (over the %u KiB "
                   "OSH_POLICY_MAX_BYTES cap) | n/a |\n",
                   sizes[s], g.n_eps, (double)g.len / 1024, OSH_POLICY_MAX_BYTES / 1024);
            gen_free(&g);
            continue;
        }
        p = load_timed(&g, &ms);
        if (p == NULL || reqsets_verify(p, sets) < 0) {
            fprintf(stderr, "bench_policy: %zu policies: load or verification failed\n",
                    sizes[s]);
            osh_policy_unref(p);
            gen_free(&g);
            free(sets);
            return 1;
        }
        for (unsigned t = 1; t <= BENCH_MAX_THREADS; t++) {
            struct row r = {.checked = true}, one;
            int rc = 0;
            for (int rep = 0; rep < BENCH_REPEAT && rc == 0; rep++) {
                if ((rc = measure(p, sets, t, budget_ns, &one)) < 0)
                    break;
                for (int k = 0; k < REQ__COUNT; k++)
                    r.ns[k] = rep == 0 || one.ns[k] < r.ns[k] ? one.ns[k] : r.ns[k];
                r.agg_kdps = one.agg_kdps > r.agg_kdps ? one.agg_kdps : r.agg_kdps;
                r.checked &= one.checked;
            }
            if (rc < 0) {
                fprintf(stderr, "bench_policy: measurement failed: %s\n", strerror(-rc));
                all_ok = false;
                continue;
            }
            all_ok &= r.checked;
            printf("| %zu | %zu | %.0f | %u | %.0f | %.0f | %.0f | %.3f | %.0f |%s\n", sizes[s],
                   g.n_eps, (double)g.len / 1024, t, r.ns[REQ_L4_ALLOW], r.ns[REQ_L4_MIXED],
                   r.ns[REQ_L7], ms, r.agg_kdps, r.checked ? "" : " (decision mismatch!)");
        }
        osh_policy_unref(p);
        gen_free(&g);
    }
    free(sets);
    return all_ok ? 0 : 1;
}
