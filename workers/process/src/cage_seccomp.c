/*
 * cage_seccomp.c - the workload's seccomp filter (our `pledge`).  See
 * osh/process/seccomp.h for the contract, process.md §7.1 for the reference
 * filters and cage-notes.md §5 for the measured calls and pitfalls.
 *
 * DESIGN
 *   libseccomp compiles the filter in the parent; seccomp_export_bpf() writes
 *   it to a memfd (libseccomp 2.5.4 has no export-to-memory), which is read
 *   back into a struct sock_fprog owned by the object.  The child then makes
 *   one raw seccomp(SECCOMP_SET_MODE_FILTER) call: no libseccomp, no malloc.
 *
 *   The reference installs two filters (clone3 -> ENOSYS first, because the
 *   second one denies seccomp(SET_MODE_FILTER)).  One program with both
 *   actions is equivalent - the kernel evaluates a single filter the same
 *   way - and costs one attach instead of two.
 *
 * ARGUMENT COMPARES
 *   Int arguments (socket family/type, seccomp op, execveat flags) are
 *   compared on their low 32 bits only, as the kernel reads them.  In
 *   libseccomp 2.5.4 SCMP_A0_32(SCMP_CMP_EQ, x) still compares all 64 bits,
 *   so socket(AF_NETLINK | 1ULL << 32, ...) would slip past it; every
 *   equality here is SCMP_CMP_MASKED_EQ with mask 0xffffffff (or the flag
 *   itself for bit tests).  The one inequality, "netlink protocol != 0",
 *   has no masked form; it stays a 64-bit compare, which fails closed
 *   (NETLINK_ROUTE with garbage in the high half is denied).
 *
 * RULES (action EPERM unless noted; default ALLOW)
 *   clone3                                   -> ENOSYS (glibc falls back to
 *                                               clone, whose flags we can see)
 *   memfd_create ptrace bpf process_vm_readv process_vm_writev pidfd_open
 *   pidfd_getfd pidfd_send_signal io_uring_setup mount fsopen fsconfig
 *   fsmount fspick move_mount open_tree setns umount2 pivot_root
 *   userfaultfd perf_event_open                     unconditional (reference)
 *   init_module finit_module delete_module kexec_load kexec_file_load
 *   add_key keyctl request_key                      unconditional (added)
 *   execveat    flags & AT_EMPTY_PATH                           (reference)
 *   unshare     flags & any CLONE_NEW* (reference: NEWUSER only)
 *   clone       flags & any CLONE_NEW* but NEWTIME (reference: NEWUSER only;
 *               0x80 is part of the exit-signal byte for clone)
 *   seccomp     op == SECCOMP_SET_MODE_FILTER                   (reference)
 *   socket      family == AF_NETLINK && protocol != 0           (reference)
 *   socket, socketpair
 *               family in 0..63 except AF_UNIX, AF_NETLINK (socket only) and,
 *               with allow_inet, AF_INET/AF_INET6.  The reference names
 *               AF_PACKET, AF_BLUETOOTH, AF_VSOCK (and INET in block mode);
 *               the allowlist also closes AF_ALG, AF_KEY, AF_TIPC, AF_RDS,
 *               AF_CAN, AF_XDP ... and the module autoload socket() does.
 *   socket      family in {AF_INET, AF_INET6} && (type & 0xf) in
 *               {SOCK_RAW, SOCK_PACKET} (added: the reference relies on the
 *               dropped CAP_NET_RAW; (AF_INET, SOCK_PACKET) is rewritten to
 *               AF_PACKET by the kernel)
 *   foreign arch / x32 numbers               -> KILL_PROCESS
 *
 * Several rules for one syscall are OR-ed; the conditions of one rule are
 * AND-ed.  flags is argument 0 of clone on x86_64 and aarch64 (not on s390,
 * which this file refuses to build for).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>

#include "osh/process/seccomp.h"

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "cage_seccomp.c: check clone's argument order and socket numbering for this arch"
#endif

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
#ifndef SOCK_PACKET
#define SOCK_PACKET 10
#endif

#define SC_LO32 0xffffffffULL    /* mask for an int argument */
#define SC_SOCK_TYPE_MASK 0xfULL /* SOCK_TYPE_MASK: type without NONBLOCK/CLOEXEC */
#define SC_AF_LIMIT 64           /* families 0..63 are checked; the kernel rejects >= AF_MAX */

struct osh_seccomp {
    struct sock_fprog sc_prog; /* .filter points at sc_insns */
    struct sock_filter *sc_insns;
};

struct sc_syscall {
    const char *name;
    int nr;
};

/* clang-format off */
#define SC_SYS(n) {#n, SCMP_SYS(n)}
/* clang-format on */

/* Denied unconditionally with EPERM. */
static const struct sc_syscall sc_deny_always[] = {
    /* the reference's list (process.md §7.1) */
    SC_SYS(memfd_create),
    SC_SYS(ptrace),
    SC_SYS(bpf),
    SC_SYS(process_vm_readv),
    SC_SYS(process_vm_writev),
    SC_SYS(pidfd_open),
    SC_SYS(pidfd_getfd),
    SC_SYS(pidfd_send_signal),
    SC_SYS(io_uring_setup),
    SC_SYS(mount),
    SC_SYS(fsopen),
    SC_SYS(fsconfig),
    SC_SYS(fsmount),
    SC_SYS(fspick),
    SC_SYS(move_mount),
    SC_SYS(open_tree),
    SC_SYS(setns),
    SC_SYS(umount2),
    SC_SYS(pivot_root),
    SC_SYS(userfaultfd),
    SC_SYS(perf_event_open),
    /* kernel modules and kexec: the supervisor prelude (§7.2) has them too;
     * repeated so the child filter does not depend on it being installed */
    SC_SYS(init_module),
    SC_SYS(finit_module),
    SC_SYS(delete_module),
    SC_SYS(kexec_load),
    SC_SYS(kexec_file_load),
    /* keyrings: kernel attack surface the workload has no use for */
    SC_SYS(add_key),
    SC_SYS(keyctl),
    SC_SYS(request_key),
};

/* Namespace flags refused in unshare and clone.  CLONE_NEWTIME is handled
 * separately: it is only a namespace flag for unshare. */
static const uint64_t sc_ns_flags[] = {
    CLONE_NEWUSER, CLONE_NEWNS,  CLONE_NEWPID,    CLONE_NEWNET,
    CLONE_NEWUTS,  CLONE_NEWIPC, CLONE_NEWCGROUP,
};

static void sc_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int sc_add(scmp_filter_ctx ctx, uint32_t action, const char *name, int nr, unsigned int n,
                  const struct scmp_arg_cmp *cmp, char *err, size_t errlen);
static int sc_add_socket_rules(scmp_filter_ctx ctx, bool allow_inet, char *err, size_t errlen);
static int sc_add_rules(scmp_filter_ctx ctx, bool allow_inet, char *err, size_t errlen);
static int sc_export(scmp_filter_ctx ctx, struct osh_seccomp *sc, char *err, size_t errlen);

static void
sc_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap); /* truncation is acceptable for a message */
    va_end(ap);
}

/* One rule; libseccomp's negative errno is passed through. */
static int
sc_add(scmp_filter_ctx ctx, uint32_t action, const char *name, int nr, unsigned int n,
       const struct scmp_arg_cmp *cmp, char *err, size_t errlen)
{
    int rc = seccomp_rule_add_array(ctx, action, nr, n, cmp);

    if (rc < 0)
        sc_errf(err, errlen, "seccomp_rule_add(%s): %s", name, strerror(-rc));
    return rc;
}

static int
sc_add_socket_rules(scmp_filter_ctx ctx, bool allow_inet, char *err, size_t errlen)
{
    static const int inet_families[] = {AF_INET, AF_INET6};
    static const int raw_types[] = {SOCK_RAW, SOCK_PACKET};
    struct scmp_arg_cmp cmp[2];
    int rc;

    for (int af = 0; af < SC_AF_LIMIT; af++) {
        if (af == AF_UNIX || (allow_inet && (af == AF_INET || af == AF_INET6)))
            continue;
        cmp[0] = SCMP_A0_64(SCMP_CMP_MASKED_EQ, SC_LO32, (uint64_t)af);
        if (af == AF_NETLINK) {
            /* NETLINK_ROUTE (0) stays: getifaddrs needs it */
            cmp[1] = SCMP_A2_64(SCMP_CMP_NE, 0, 0); /* datum_b unused */
            rc =
                sc_add(ctx, SCMP_ACT_ERRNO(EPERM), "socket", SCMP_SYS(socket), 2, cmp, err, errlen);
        } else {
            rc =
                sc_add(ctx, SCMP_ACT_ERRNO(EPERM), "socket", SCMP_SYS(socket), 1, cmp, err, errlen);
        }
        if (rc < 0)
            return rc;
        rc = sc_add(ctx, SCMP_ACT_ERRNO(EPERM), "socketpair", SCMP_SYS(socketpair), 1, cmp, err,
                    errlen);
        if (rc < 0)
            return rc;
    }
    if (!allow_inet)
        return 0; /* the families themselves are denied above */
    for (size_t i = 0; i < sizeof(inet_families) / sizeof(inet_families[0]); i++) {
        for (size_t j = 0; j < sizeof(raw_types) / sizeof(raw_types[0]); j++) {
            cmp[0] = SCMP_A0_64(SCMP_CMP_MASKED_EQ, SC_LO32, (uint64_t)inet_families[i]);
            cmp[1] = SCMP_A1_64(SCMP_CMP_MASKED_EQ, SC_SOCK_TYPE_MASK, (uint64_t)raw_types[j]);
            rc =
                sc_add(ctx, SCMP_ACT_ERRNO(EPERM), "socket", SCMP_SYS(socket), 2, cmp, err, errlen);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

static int
sc_add_rules(scmp_filter_ctx ctx, bool allow_inet, char *err, size_t errlen)
{
    struct scmp_arg_cmp cmp[1];
    int rc;

    rc = sc_add(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", SCMP_SYS(clone3), 0, NULL, err, errlen);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < sizeof(sc_deny_always) / sizeof(sc_deny_always[0]); i++) {
        rc = sc_add(ctx, SCMP_ACT_ERRNO(EPERM), sc_deny_always[i].name, sc_deny_always[i].nr, 0,
                    NULL, err, errlen);
        if (rc < 0)
            return rc;
    }

    cmp[0] = SCMP_A4_64(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH);
    rc = sc_add(ctx, SCMP_ACT_ERRNO(EPERM), "execveat", SCMP_SYS(execveat), 1, cmp, err, errlen);
    if (rc < 0)
        return rc;

    /* A masked compare against the flag itself tests one bit; the other 63
     * bits, high half included, are ignored. */
    for (size_t i = 0; i < sizeof(sc_ns_flags) / sizeof(sc_ns_flags[0]); i++) {
        cmp[0] = SCMP_A0_64(SCMP_CMP_MASKED_EQ, sc_ns_flags[i], sc_ns_flags[i]);
        rc = sc_add(ctx, SCMP_ACT_ERRNO(EPERM), "unshare", SCMP_SYS(unshare), 1, cmp, err, errlen);
        if (rc < 0)
            return rc;
        rc = sc_add(ctx, SCMP_ACT_ERRNO(EPERM), "clone", SCMP_SYS(clone), 1, cmp, err, errlen);
        if (rc < 0)
            return rc;
    }
    cmp[0] = SCMP_A0_64(SCMP_CMP_MASKED_EQ, CLONE_NEWTIME, CLONE_NEWTIME);
    rc = sc_add(ctx, SCMP_ACT_ERRNO(EPERM), "unshare", SCMP_SYS(unshare), 1, cmp, err, errlen);
    if (rc < 0)
        return rc;

    cmp[0] = SCMP_A0_64(SCMP_CMP_MASKED_EQ, SC_LO32, SECCOMP_SET_MODE_FILTER);
    rc = sc_add(ctx, SCMP_ACT_ERRNO(EPERM), "seccomp", SCMP_SYS(seccomp), 1, cmp, err, errlen);
    if (rc < 0)
        return rc;

    return sc_add_socket_rules(ctx, allow_inet, err, errlen);
}

/* Exports the compiled filter through a memfd into sc->sc_insns. */
static int
sc_export(scmp_filter_ctx ctx, struct osh_seccomp *sc, char *err, size_t errlen)
{
    size_t size;
    size_t done;
    ssize_t n;
    off_t end;
    int mfd = -1;
    int rc;

    mfd = memfd_create("osh-seccomp-bpf", MFD_CLOEXEC);
    if (mfd < 0) {
        rc = -errno;
        sc_errf(err, errlen, "memfd_create: %s", strerror(errno));
        goto out;
    }
    rc = seccomp_export_bpf(ctx, mfd);
    if (rc < 0) {
        sc_errf(err, errlen, "seccomp_export_bpf: %s", strerror(-rc));
        goto out;
    }
    end = lseek(mfd, 0, SEEK_END);
    if (end < 0) {
        rc = -errno;
        sc_errf(err, errlen, "lseek(memfd): %s", strerror(errno));
        goto out;
    }
    size = (size_t)end;
    if (size == 0 || size % sizeof(struct sock_filter) != 0 ||
        size / sizeof(struct sock_filter) > BPF_MAXINSNS) {
        sc_errf(err, errlen, "seccomp_export_bpf: unexpected program size %zu bytes", size);
        rc = -EOVERFLOW;
        goto out;
    }
    sc->sc_insns = malloc(size);
    if (sc->sc_insns == NULL) {
        sc_errf(err, errlen, "seccomp: out of memory");
        rc = -ENOMEM;
        goto out;
    }
    for (done = 0; done < size; done += (size_t)n) {
        n = pread(mfd, (char *)sc->sc_insns + done, size - done, (off_t)done);
        if (n < 0 && errno == EINTR) {
            n = 0;
            continue;
        }
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            sc_errf(err, errlen, "pread(memfd): %s", strerror(-rc));
            goto out;
        }
    }
    sc->sc_prog.len = (unsigned short)(size / sizeof(struct sock_filter));
    sc->sc_prog.filter = sc->sc_insns;
    rc = 0;
out:
    if (mfd >= 0)
        close(mfd);
    return rc;
}

int
osh_seccomp_prepare(bool allow_inet, struct osh_seccomp **out, char *err, size_t errlen)
{
    scmp_filter_ctx ctx = NULL;
    struct osh_seccomp *sc = NULL;
    int rc;

    sc_errf(err, errlen, "%s", "");
    if (out == NULL) {
        sc_errf(err, errlen, "seccomp: invalid arguments");
        rc = -EINVAL;
        goto fail;
    }
    *out = NULL;
    sc = calloc(1, sizeof(*sc));
    if (sc == NULL) {
        sc_errf(err, errlen, "seccomp: out of memory");
        rc = -ENOMEM;
        goto fail;
    }
    ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (ctx == NULL) {
        sc_errf(err, errlen, "seccomp_init failed");
        rc = -ENOMEM;
        goto fail;
    }
    /* Foreign-arch syscalls (i386 int 0x80, arm32 compat) never match a
     * native rule: kill instead of allowing them (reference behaviour). */
    rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (rc < 0) {
        sc_errf(err, errlen, "seccomp_attr_set(ACT_BADARCH): %s", strerror(-rc));
        goto fail;
    }
    if ((rc = sc_add_rules(ctx, allow_inet, err, errlen)) < 0)
        goto fail;
    if ((rc = sc_export(ctx, sc, err, errlen)) < 0)
        goto fail;
    seccomp_release(ctx);
    *out = sc;
    return 0;
fail:
    seccomp_release(ctx);
    osh_seccomp_free(sc);
    sc = NULL;
    return rc < 0 ? rc : -EINVAL;
}

int
osh_seccomp_apply_child(const struct osh_seccomp *sc)
{
    /* Async-signal-safe: one raw syscall, no allocation, no stdio. */
    if (sc == NULL)
        return -EINVAL;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &sc->sc_prog) < 0)
        return -errno;
    return 0;
}

const struct sock_fprog *
osh_seccomp_program(const struct osh_seccomp *sc)
{
    return sc != NULL ? &sc->sc_prog : NULL;
}

void
osh_seccomp_free(struct osh_seccomp *sc)
{
    if (sc == NULL)
        return;
    free(sc->sc_insns);
    sc->sc_insns = NULL;
    free(sc);
}
