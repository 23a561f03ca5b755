/*
 * run_sandbox.c - the combined run (`--mode=network,process`, the default):
 * cage the workload and let it out only through the proxy.
 *
 * DESIGN: the startup order is the reference's (process.md §1.2, §10.1,
 * §15), as one linear sequence where every privileged step is checked and
 * any failure before the spawn stops everything (fail closed):
 *   signals -> policy -> user -> namespace -> fence -> proxy -> Landlock and
 *   seccomp prepared -> child env -> bypass monitor -> spawn -> supervise ->
 *   teardown.
 * The orchestrator owns what outlives both halves: the namespace handle, the
 * policy store, the event rings and their aggregator.  The halves only
 * produce events.  The namespace is torn down on every exit path that runs
 * code (a workload crash, SIGTERM/SIGINT to the supervisor, a failed step);
 * leftovers of a killed supervisor are removed by the next start.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aggregator.h"
#include "default_policy.h"
#include "osh/events.h"
#include "osh/log.h"
#include "osh/network/proxy.h"
#include "osh/policy.h"
#include "osh/policy_store.h"
#include "osh/process/bypass.h"
#include "osh/process/child_env.h"
#include "osh/process/landlock.h"
#include "osh/process/netns.h"
#include "osh/process/seccomp.h"
#include "osh/process/spawn.h"
#include "osh/process/supervise.h"
#include "osh/ring.h"
#include "run.h"

#define DENIAL_RING 256
#define ACTIVITY_RING 4096
#define PROXY_PORT 3128
#define MAX_PATHS 300

/* The proxy baseline of process.md §1.4: added when it exists and is not
 * already listed; user paths are never removed. */
static const char *const baseline_ro[] = {"/usr", "/lib", "/etc", "/app", "/var/log", "/proc",
                                          "/dev/urandom", NULL};
static const char *const baseline_rw[] = {"/sandbox", "/tmp", NULL};

struct path_list {
    const char *v[MAX_PATHS];
    size_t n;
};

static bool
listed(const struct path_list *l, const char *p)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], p) == 0)
            return true;
    return false;
}

static void
add_path(struct path_list *l, const char *p)
{
    if (l->n < MAX_PATHS && !listed(l, p))
        l->v[l->n++] = p;
}

static void
enrich(const struct osh_policy_static *st, const char *workdir, struct path_list *ro,
       struct path_list *rw)
{
    struct stat sb;

    for (size_t i = 0; i < st->n_read_only; i++)
        add_path(ro, st->read_only[i]);
    for (size_t i = 0; i < st->n_read_write; i++)
        add_path(rw, st->read_write[i]);
    for (const char *const *p = baseline_ro; *p; p++)
        if (!listed(rw, *p) && stat(*p, &sb) == 0)
            add_path(ro, *p);
    for (const char *const *p = baseline_rw; *p; p++)
        if (!listed(ro, *p) && stat(*p, &sb) == 0)
            add_path(rw, *p);
    if (st->include_workdir && workdir != NULL)
        add_path(rw, workdir);
}

static struct osh_policy *
load_policy(const struct options *o)
{
    struct osh_diags d = {0};
    struct osh_policy *p;

    if (o->policy_data != NULL)
        p = osh_policy_load_file(o->policy_data, OSH_POLICY_FORMAT_AUTO, &d);
    else
        p = osh_policy_load_buffer("<bundled default policy>", osh_default_policy,
                                   osh_default_policy_len, OSH_POLICY_FORMAT_YAML, &d);
    for (size_t i = 0; i < d.len; i++)
        osh_logf(d.items[i].warning ? OSH_LOG_WARN : OSH_LOG_ERROR, "policy", "%s:%u:%u: %s: %s",
                 d.items[i].file, d.items[i].line, d.items[i].col, d.items[i].path,
                 d.items[i].msg);
    osh_diags_clear(&d);
    if (p == NULL)
        osh_logf(OSH_LOG_ERROR, "policy", "%s is not a valid policy; refusing to start",
                 o->policy_data ? o->policy_data : "the bundled default policy");
    return p;
}

/* argv[0] through PATH, resolved in the parent (the child may not search). */
static char *
resolve_program(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[4096];

    if (strchr(prog, '/') != NULL)
        return strdup(prog);
    if (path == NULL || *path == '\0')
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        if (len > 0 && snprintf(buf, sizeof(buf), "%.*s/%s", (int)len, path, prog) <
                           (int)sizeof(buf) &&
            access(buf, X_OK) == 0)
            return strdup(buf);
        path += len + (colon ? 1 : 0);
    }
    return NULL;
}

/* 8 hex chars: the namespace and veth names must fit IFNAMSIZ. */
static void
random_id(char out[9])
{
    unsigned char b[4] = {0};
    static const char hex[] = "0123456789abcdef";

    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        unsigned v = (unsigned)getpid();
        memcpy(b, &v, sizeof(b));
    }
    for (int i = 0; i < 4; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[8] = '\0';
}

static int
landlock_hook(const void *arg)
{
    return osh_landlock_apply_child(arg);
}

static int
seccomp_hook(const void *arg)
{
    return osh_seccomp_apply_child(arg);
}

int
run_sandbox(const struct options *o)
{
    struct osh_supervisor *sup = NULL;
    struct osh_policy *policy = NULL;
    struct osh_policy_store *store = NULL;
    struct osh_ring *denials = NULL, *activity = NULL;
    struct aggregator *agg = NULL;
    struct osh_netns *ns = NULL;
    struct osh_proxy *proxy = NULL;
    struct osh_landlock *ll = NULL;
    struct osh_seccomp *sc = NULL;
    struct osh_bypass_monitor *bypass = NULL;
    struct osh_identity_ids ids;
    struct osh_landlock_report llrep;
    struct osh_policy_static st;
    struct path_list ro = {0}, rw = {0};
    char **envp = NULL, **argv = NULL;
    char *program = NULL;
    char err[1024], id[9], nsid[16], listen[64], proxy_url[64];
    pid_t pid = -1;
    int rc = 1;

    /* 1. Signals, before any thread exists: they arrive on the
     * supervisor's signalfd and are forwarded to the workload. */
    sup = osh_supervisor_new(err, sizeof(err));
    if (sup == NULL) {
        osh_logf(OSH_LOG_ERROR, "supervisor", "%s", err);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    mallopt(M_ARENA_MAX, 2);

    /* 2. Policy: invalid means no start. */
    policy = load_policy(o);
    if (policy == NULL)
        goto out;
    osh_policy_get_static(policy, &st);

    /* 3. The workload's identity: never root. */
    if (osh_resolve_user(st.run_as_user, st.run_as_group, &ids, err, sizeof(err)) < 0) {
        osh_logf(OSH_LOG_ERROR, "supervisor", "%s", err);
        goto out;
    }

    /* 4-5. Namespace and fence.  Fail closed: no fence, no workload.
     * First the cages of supervisors that were killed before cleaning up:
     * their orphaned workloads are stopped and the namespaces removed. */
    {
        int stale = osh_netns_reap_stale();
        if (stale > 0)
            osh_logf(OSH_LOG_WARN, "cage", "removed %d stale cage(s) of dead supervisors",
                     stale);
    }
    random_id(id);
    snprintf(nsid, sizeof(nsid), "%s", id);
    {
        struct osh_netns_config nc = {
            .id = nsid,
            .host_cidr = "10.200.0.1/24",
            .sandbox_cidr = "10.200.0.2/24",
            .proxy_port = PROXY_PORT,
        };
        ns = osh_netns_create(&nc, err, sizeof(err));
    }
    if (ns == NULL) {
        osh_logf(OSH_LOG_ERROR, "cage",
                 "network namespace creation failed and proxy mode requires isolation: %s",
                 err);
        goto out;
    }
    if (osh_netns_claim(ns) < 0)
        osh_logf(OSH_LOG_WARN, "cage", "cannot record the cage's owner: a crash would leave "
                                       "it for the next start to find by inspection only");
    if (osh_netns_install_fence(ns, err, sizeof(err)) < 0) {
        osh_logf(OSH_LOG_ERROR, "cage", "bypass fence not installed, refusing to start the "
                                        "workload: %s", err);
        goto out;
    }
    if (!osh_netns_kernel_log_ready(ns))
        osh_logf(OSH_LOG_WARN, "cage", "nf_log_all_netns is not settable here (not the initial "
                                       "namespace): bypasses are rejected but not reported");

    /* 6. Events and the proxy on the host side of the veth. */
    store = osh_policy_store_new(osh_policy_ref(policy));
    denials = osh_ring_new(DENIAL_RING, sizeof(struct osh_denial_event));
    activity = osh_ring_new(ACTIVITY_RING, sizeof(struct osh_activity_event));
    agg = store && denials && activity ? aggregator_start(denials, activity) : NULL;
    if (agg == NULL) {
        osh_logf(OSH_LOG_ERROR, "supervisor", "out of memory");
        goto out;
    }
    snprintf(listen, sizeof(listen), "%s:%u", osh_netns_host_ip(ns), PROXY_PORT);
    snprintf(proxy_url, sizeof(proxy_url), "http://%s:%u", osh_netns_host_ip(ns), PROXY_PORT);
    {
        struct osh_proxy_config pc = {
            .listen = listen,
            .workers = o->workers,
            .max_conns = o->max_conns,
            .header_timeout_ms = o->header_timeout_ms,
            .idle_timeout_ms = o->idle_timeout_ms,
            .policy = store,
            .denials = denials,
            .activity = activity,
            .client_netns_fd = osh_netns_fd(ns),
            .log_level = o->log_level,
        };
        proxy = osh_proxy_new(&pc, err, sizeof(err));
    }
    if (proxy == NULL || osh_proxy_start(proxy) < 0) {
        osh_logf(OSH_LOG_ERROR, "supervisor", "proxy: %s", proxy ? "cannot start" : err);
        goto out;
    }

    /* 7. Landlock and seccomp, prepared here: the child only applies. */
    enrich(&st, o->workdir, &ro, &rw);
    if (osh_landlock_prepare(ro.v, ro.n, rw.v, rw.n, NULL, st.landlock_hard_requirement, &ll,
                             &llrep, err, sizeof(err)) < 0) {
        osh_logf(OSH_LOG_ERROR, "cage", "landlock: %s", err);
        goto out;
    }
    for (size_t i = 0; i < llrep.n_skipped && i < 8; i++)
        osh_logf(OSH_LOG_WARN, "cage", "landlock (best effort) skipped %s", llrep.skipped[i]);
    if (osh_seccomp_prepare(true, &sc, err, sizeof(err)) < 0) {
        osh_logf(OSH_LOG_ERROR, "cage", "seccomp: %s", err);
        goto out;
    }

    /* 8. The workload's command and environment. */
    {
        static char *const default_cmd[] = {"/bin/bash", NULL};
        char *const *cmd = o->command && o->command[0] ? o->command : default_cmd;
        size_t n = 0;
        while (cmd[n])
            n++;
        argv = calloc(n + 1, sizeof(*argv));
        program = resolve_program(cmd[0]);
        if (argv == NULL || program == NULL) {
            osh_logf(OSH_LOG_ERROR, "supervisor", "command not found: %s", cmd[0]);
            goto out;
        }
        argv[0] = program;
        for (size_t i = 1; i < n; i++)
            argv[i] = cmd[i];
    }
    {
        extern char **environ;
        if (osh_child_env_build((const char *const *)environ, proxy_url, NULL, &ids,
                                o->workdir ? o->workdir : "/sandbox", &envp, err,
                                sizeof(err)) < 0) {
            osh_logf(OSH_LOG_ERROR, "supervisor", "child environment: %s", err);
            goto out;
        }
    }

    /* 9. The bypass monitor starts before the workload, so its first
     * packets are seen.  Without /dev/kmsg the fence still rejects. */
    {
        struct osh_bypass_config bc = {
            .log_prefix = osh_netns_log_prefix(ns),
            .denials = denials,
            .activity = activity,
        };
        bypass = osh_bypass_monitor_start(&bc, err, sizeof(err));
        if (bypass == NULL)
            osh_logf(OSH_LOG_WARN, "cage",
                     "bypass monitor not running (%s); bypass REJECT rules still apply", err);
    }

    /* 10. Spawn: setns, drop privileges, Landlock, seccomp, exec. */
    {
        struct osh_spawn_config sc_cfg = {
            .argv = argv,
            .envp = envp,
            .workdir = o->workdir,
            .netns_fd = osh_netns_fd(ns),
            .ids = &ids,
            .landlock = landlock_hook,
            .landlock_arg = ll,
            .seccomp = seccomp_hook,
            .seccomp_arg = sc,
            .new_process_group = !o->interactive,
            .stdin_fd = -1,
            .stdout_fd = -1,
            .stderr_fd = -1,
        };
        if (osh_spawn(&sc_cfg, &pid, err, sizeof(err)) < 0) {
            osh_logf(OSH_LOG_ERROR, "cage", "%s", err);
            goto out;
        }
    }
    osh_proxy_set_entrypoint(proxy, pid);
    if (bypass)
        osh_bypass_monitor_set_entrypoint(bypass, pid);
    if (osh_supervisor_watch(sup, pid) < 0) {
        kill(pid, SIGKILL);
        osh_logf(OSH_LOG_ERROR, "supervisor", "cannot watch the workload");
        goto out;
    }
    if (o->log_level >= OSH_LOG_INFO)
        osh_logf(OSH_LOG_INFO, "supervisor", "workload started: pid %d in %s", (int)pid,
                 osh_netns_name(ns));

    /* 11. Supervise until the workload exits; its code is ours. */
    rc = osh_supervisor_run(sup, o->timeout_s * 1000u, 100);

out:
    /* 12. Teardown, in reverse. */
    osh_bypass_monitor_free(bypass);
    if (proxy != NULL) {
        osh_proxy_stop(proxy);
        osh_proxy_free(proxy);
    }
    aggregator_stop(agg);
    if (ns != NULL) {
        /* Whatever the workload left running (background children,
         * daemons in other process groups) lives in the namespace: end it
         * before the namespace goes. */
        if (osh_netns_kill_members(ns) < 0)
            osh_logf(OSH_LOG_WARN, "cage", "some processes in %s would not die",
                     osh_netns_name(ns));
        osh_netns_unclaim(ns);
        if (osh_netns_destroy(ns) < 0)
            osh_logf(OSH_LOG_WARN, "cage", "namespace teardown incomplete");
    }
    osh_landlock_free(ll);
    osh_seccomp_free(sc);
    osh_child_env_free(envp);
    free(argv);
    free(program);
    osh_ring_free(denials);
    osh_ring_free(activity);
    osh_policy_store_free(store);
    osh_policy_unref(policy);
    osh_supervisor_free(sup);
    return rc;
}
