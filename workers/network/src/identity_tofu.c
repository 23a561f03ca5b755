/*
 * identity_tofu.c - the SHA-256 trust-on-first-use cache of network.md §2.5:
 * the first hash seen for a binary path is its "golden" hash, and any later
 * content at that path must hash the same.
 *
 * DESIGN
 * The cache is a chained hash table keyed by path, behind one mutex.  The
 * mutex is held only to look up, compare and insert; hashing (up to ~80 ms
 * for a 100 MB binary) runs outside it, so one new binary does not stall
 * every pool thread.  Two threads may therefore hash the same file at once;
 * the second lookup after hashing decides, and because an entry's golden
 * hash is written once and never changed, the outcome is the same in every
 * interleaving.
 *
 * The fingerprint comes from fstat() of the fd the bytes are read from, not
 * from stat(path): the caller hands in /proc/PID/exe, so what is checked is
 * the file the process actually runs, even when the path has been replaced,
 * deleted, or never existed (memfd).  The file is re-fstat'ed after hashing
 * so that a file rewritten while it was read is never pinned with a torn
 * hash.
 *
 * The cache is bounded but never evicts.  Evicting an entry would forget a
 * golden hash, and the next check of a swapped binary at that path would
 * record the swapped bytes as golden: exactly the substitution the cache
 * exists to catch.  When full, new paths are hashed on every check (slow but
 * correct: with no golden hash there is nothing to compare against, as on
 * a first sighting) and existing entries keep protecting their paths.
 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "identity.h"

#define TOFU_PATH_MAX 4096
#define TOFU_HEX_LEN 64
#define TOFU_READ_CHUNK (64 * 1024) /* the reference's read size */
#define TOFU_MIN_BUCKETS ((size_t)16)
#define TOFU_MAX_BUCKETS ((size_t)1 << 16)
#define TOFU_HASH_ATTEMPTS 2 /* then -EAGAIN: a file being rewritten is not pinned */

struct tofu_fp {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtim;
    struct timespec ctim;
};

struct tofu_entry {
    struct tofu_entry *next;
    struct tofu_fp fp;          /* updated when only metadata changed */
    char hex[TOFU_HEX_LEN + 1]; /* golden hash: written once, never changed */
    char path[];
};

struct osh_tofu_cache {
    pthread_mutex_t lock; /* guards buckets, every entry's fp, and n */
    struct tofu_entry **buckets;
    size_t nbuckets; /* power of two */
    size_t n;
    size_t max;
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static uint64_t path_hash(const char *path, size_t len);
static struct tofu_entry *lookup_locked(const struct osh_tofu_cache *c, const char *path,
                                        uint64_t h);
static int fingerprint(int fd, const char *path, struct tofu_fp *fp, char *err, size_t errlen);
static bool fp_equal(const struct tofu_fp *a, const struct tofu_fp *b);
static int sha256_fd(int fd, const char *path, char hex[TOFU_HEX_LEN + 1], char *err,
                     size_t errlen);

struct osh_tofu_cache *
osh_tofu_cache_new(size_t max_entries)
{
    struct osh_tofu_cache *c = NULL;
    size_t nb = TOFU_MIN_BUCKETS;
    int rc;

    if (max_entries == 0) {
        rc = EINVAL;
        goto fail;
    }
    while (nb < max_entries && nb < TOFU_MAX_BUCKETS)
        nb <<= 1;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        rc = ENOMEM;
        goto fail;
    }
    c->buckets = calloc(nb, sizeof(c->buckets[0]));
    if (c->buckets == NULL) {
        rc = ENOMEM;
        goto fail;
    }
    c->nbuckets = nb;
    c->max = max_entries;
    /* last step that can fail, so the failure path never destroys it */
    rc = pthread_mutex_init(&c->lock, NULL);
    if (rc != 0)
        goto fail;
    return c;

fail:
    if (c != NULL)
        free(c->buckets);
    free(c); c = NULL;
    errno = rc;
    return NULL;
}

void
osh_tofu_cache_free(struct osh_tofu_cache *c)
{
    struct tofu_entry *e, *next;

    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nbuckets; i++) {
        for (e = c->buckets[i]; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
        c->buckets[i] = NULL;
    }
    pthread_mutex_destroy(&c->lock);
    free(c->buckets); c->buckets = NULL;
    free(c);
}

int
osh_tofu_check(struct osh_tofu_cache *c, const char *path, int fd, char hex_out[65], char *err,
               size_t errlen)
{
    struct tofu_entry *e, *fresh = NULL;
    struct tofu_fp fp, after;
    char golden[TOFU_HEX_LEN + 1] = "";
    char cur[TOFU_HEX_LEN + 1];
    size_t plen = 0;
    uint64_t h;
    bool room, violation = false;
    int rc;

    seterr(err, errlen, "%s", "");
    if (c == NULL || path == NULL || hex_out == NULL || fd < 0) {
        rc = -EINVAL;
        seterr(err, errlen, "invalid argument to TOFU check");
        goto out;
    }
    plen = strnlen(path, TOFU_PATH_MAX);
    if (plen == TOFU_PATH_MAX) {
        rc = -ENAMETOOLONG;
        seterr(err, errlen, "Failed to stat %.256s...: path too long", path);
        goto out;
    }
    rc = fingerprint(fd, path, &fp, err, errlen);
    if (rc != 0)
        goto out;
    h = path_hash(path, plen);

    pthread_mutex_lock(&c->lock);
    e = lookup_locked(c, path, h);
    if (e != NULL && fp_equal(&e->fp, &fp)) {
        memcpy(hex_out, e->hex, sizeof(e->hex));
        pthread_mutex_unlock(&c->lock);
        return 0;
    }
    room = e == NULL && c->n < c->max;
    pthread_mutex_unlock(&c->lock);

    for (int attempt = 1;; attempt++) {
        rc = sha256_fd(fd, path, cur, err, errlen);
        if (rc != 0)
            goto out;
        rc = fingerprint(fd, path, &after, err, errlen);
        if (rc != 0)
            goto out;
        if (fp_equal(&fp, &after))
            break;
        if (attempt == TOFU_HASH_ATTEMPTS) {
            rc = -EAGAIN;
            seterr(err, errlen, "Failed to hash %s: file changed while it was read", path);
            goto out;
        }
        fp = after;
    }

    /* Allocated before taking the lock; dropped below if another thread won. */
    if (room) {
        fresh = malloc(sizeof(*fresh) + plen + 1);
        if (fresh == NULL) {
            rc = -ENOMEM;
            seterr(err, errlen, "Failed to record hash of %s: out of memory", path);
            goto out;
        }
        fresh->fp = fp;
        memcpy(fresh->hex, cur, sizeof(fresh->hex));
        memcpy(fresh->path, path, plen + 1);
    }

    pthread_mutex_lock(&c->lock);
    e = lookup_locked(c, path, h);
    if (e != NULL) {
        violation = memcmp(e->hex, cur, TOFU_HEX_LEN) != 0;
        if (violation)
            memcpy(golden, e->hex, sizeof(golden)); /* entry left as is: stays denied */
        else
            e->fp = fp;
    } else if (fresh != NULL && c->n < c->max) {
        size_t b = (size_t)h & (c->nbuckets - 1);
        fresh->next = c->buckets[b];
        c->buckets[b] = fresh;
        fresh = NULL;
        c->n++;
    }
    pthread_mutex_unlock(&c->lock);

    if (violation) {
        rc = -EPERM;
        seterr(err, errlen, "Binary integrity violation: %s hash changed (cached: %s, current: %s)",
               path, golden, cur);
        goto out;
    }
    memcpy(hex_out, cur, sizeof(cur));
    rc = 0;

out:
    free(fresh); fresh = NULL; /* unused when another thread recorded the path first */
    return rc;
}

/* ---- helpers -------------------------------------------------------------- */

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(err, errlen, fmt, ap); /* truncation is acceptable for a message */
    va_end(ap);
}

/* FNV-1a: paths are not attacker-chosen in bulk (they are binaries that
 * exist), so flooding one bucket is not a concern worth a keyed hash. */
static uint64_t
path_hash(const char *path, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)path[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static struct tofu_entry *
lookup_locked(const struct osh_tofu_cache *c, const char *path, uint64_t h)
{
    struct tofu_entry *e;

    for (e = c->buckets[(size_t)h & (c->nbuckets - 1)]; e != NULL; e = e->next)
        if (strcmp(e->path, path) == 0)
            return e;
    return NULL;
}

/* Only regular files: hashing a FIFO or a device could block forever. */
static int
fingerprint(int fd, const char *path, struct tofu_fp *fp, char *err, size_t errlen)
{
    struct stat st;
    char eb[128];

    if (fstat(fd, &st) != 0) {
        int e = errno;
        seterr(err, errlen, "Failed to stat %s: %s", path, strerror_r(e, eb, sizeof(eb)));
        return -e;
    }
    if (!S_ISREG(st.st_mode)) {
        seterr(err, errlen, "Failed to stat %s: not a regular file", path);
        return -EINVAL;
    }
    memset(fp, 0, sizeof(*fp));
    fp->dev = st.st_dev;
    fp->ino = st.st_ino;
    fp->size = st.st_size;
    fp->mtim = st.st_mtim;
    fp->ctim = st.st_ctim;
    return 0;
}

static bool
fp_equal(const struct tofu_fp *a, const struct tofu_fp *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec &&
           a->ctim.tv_sec == b->ctim.tv_sec && a->ctim.tv_nsec == b->ctim.tv_nsec;
}

/* pread from offset 0: the fd may be shared, and its offset is not ours. */
static int
sha256_fd(int fd, const char *path, char hex[TOFU_HEX_LEN + 1], char *err, size_t errlen)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned char *buf = NULL;
    EVP_MD_CTX *ctx = NULL;
    unsigned int mdlen = 0;
    char eb[128];
    off_t off = 0;
    ssize_t r;
    int rc;

    ctx = EVP_MD_CTX_new();
    buf = malloc(TOFU_READ_CHUNK);
    if (ctx == NULL || buf == NULL) {
        rc = -ENOMEM;
        seterr(err, errlen, "Failed to hash %s: out of memory", path);
        goto out;
    }
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        rc = -EIO;
        seterr(err, errlen, "Failed to hash %s: OpenSSL digest init failed", path);
        goto out;
    }
    for (;;) {
        r = pread(fd, buf, TOFU_READ_CHUNK, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            seterr(err, errlen, "Failed to read %s: %s", path, strerror_r(-rc, eb, sizeof(eb)));
            goto out;
        }
        if (r == 0)
            break;
        if (EVP_DigestUpdate(ctx, buf, (size_t)r) != 1) {
            rc = -EIO;
            seterr(err, errlen, "Failed to hash %s: OpenSSL digest update failed", path);
            goto out;
        }
        off += r;
    }
    if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != TOFU_HEX_LEN / 2) {
        rc = -EIO;
        seterr(err, errlen, "Failed to hash %s: OpenSSL digest final failed", path);
        goto out;
    }
    for (unsigned int i = 0; i < mdlen; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 0x0f];
    }
    hex[TOFU_HEX_LEN] = '\0';
    rc = 0;

out:
    if (rc == -EIO)
        ERR_clear_error(); /* translated to -EIO; leave no residue in this thread's queue */
    EVP_MD_CTX_free(ctx); ctx = NULL;
    free(buf); buf = NULL;
    return rc;
}
