/* vmsnap: checksums of image files (see hash.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cleanup.h"
#include "hash.h"
#include "xalloc.h"

/* Size of one read. */
#define HASH_CHUNK (1024 * 1024)

/* The digests being computed in one pass. */
struct hash_set {
    size_t n;                       /* digests in use */
    EVP_MD *md[HASH_MAX_ALGS];      /* fetched algorithms */
    EVP_MD_CTX *ctx[HASH_MAX_ALGS]; /* their running states */
};

static void
hash_set_free(struct hash_set *set)
{
    size_t i;

    for (i = 0; i < set->n; i++) {
        EVP_MD_CTX_free(set->ctx[i]);
        EVP_MD_free(set->md[i]);
    }
    set->n = 0;
}

/* Fetch and initialise the N digests.  On failure everything fetched so
 * far is freed.
 */
static int
hash_set_init(struct hash_set *set, size_t n, const char *const *algs,
              struct error **errp)
{
    size_t i;

    set->n = 0;
    for (i = 0; i < n; i++) {
        EVP_MD *md = EVP_MD_fetch(NULL, algs[i], NULL);
        EVP_MD_CTX *ctx;

        if (md == NULL) {
            error_setg(errp, ERR_INVALID, "unknown digest algorithm %s",
                       algs[i]);
            hash_set_free(set);
            return -1;
        }
        ctx = xcheck(EVP_MD_CTX_new());
        if (EVP_DigestInit_ex(ctx, md, NULL) != 1) {
            EVP_MD_CTX_free(ctx);
            EVP_MD_free(md);
            error_setg(errp, ERR_IO, "cannot initialise digest %s", algs[i]);
            hash_set_free(set);
            return -1;
        }
        set->md[i] = md;
        set->ctx[i] = ctx;
        set->n = i + 1;
    }
    return 0;
}

static void
hash_to_hex(const unsigned char *bin, unsigned int len, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    unsigned int i;

    for (i = 0; i < len; i++) {
        hex[2 * i] = digits[bin[i] >> 4];
        hex[2 * i + 1] = digits[bin[i] & 0xf];
    }
    hex[2 * len] = '\0';
}

/* Read FD to its end, feeding every digest of SET. */
static int
hash_read_all(int fd, const char *path, struct hash_set *set,
              hash_progress_fn *progress, void *opaque, int64_t total,
              struct error **errp)
{
    CLEANUP_FREE unsigned char *buf = xmalloc(HASH_CHUNK);
    int64_t done = 0;
    size_t i;

    for (;;) {
        ssize_t n = read(fd, buf, HASH_CHUNK);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            error_setg_errno(errp, ERR_IO, errno, "read %s", path);
            return -1;
        }
        if (n == 0) {
            break;
        }
        for (i = 0; i < set->n; i++) {
            if (EVP_DigestUpdate(set->ctx[i], buf, (size_t)n) != 1) {
                error_setg(errp, ERR_IO, "hash %s: digest update failed", path);
                return -1;
            }
        }
        done += n;
        if (progress != NULL) {
            progress(done, total, opaque);
        }
    }
    if (progress != NULL) {
        progress(done, total, opaque);
    }
    return 0;
}

int
hash_file_multi(const char *path, size_t n, const char *const *algs, char **hex,
                hash_progress_fn *progress, void *opaque, struct error **errp)
{
    struct hash_set set = {0};
    char *out[HASH_MAX_ALGS] = {NULL};
    CLEANUP_CLOSE int fd = -1;
    int64_t total = -1;
    struct stat st;
    size_t i;
    int r = -1;

    if (n == 0 || n > HASH_MAX_ALGS) {
        error_setg(errp, ERR_INVALID,
                   "hash %s: %zu digests asked, 1 to %d "
                   "allowed",
                   path, n, HASH_MAX_ALGS);
        return -1;
    }
    if (hash_set_init(&set, n, algs, errp) < 0) {
        return -1;
    }

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error_setg_errno(errp, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO, errno,
                         "open %s", path);
        goto out;
    }
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        total = st.st_size;
    }
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

    if (hash_read_all(fd, path, &set, progress, opaque, total, errp) < 0) {
        goto out;
    }

    for (i = 0; i < n; i++) {
        unsigned char bin[EVP_MAX_MD_SIZE];
        unsigned int len = 0;

        out[i] = xmalloc(2 * EVP_MAX_MD_SIZE + 1);
        if (EVP_DigestFinal_ex(set.ctx[i], bin, &len) != 1) {
            error_setg(errp, ERR_IO, "hash %s: digest %s failed", path,
                       algs[i]);
            goto out;
        }
        hash_to_hex(bin, len, out[i]);
    }
    for (i = 0; i < n; i++) {
        hex[i] = out[i];
        out[i] = NULL;
    }
    r = 0;

out:
    for (i = 0; i < n; i++) {
        free(out[i]);
    }
    hash_set_free(&set);
    return r;
}

/* Copy a hex digest into a fixed buffer of SIZE bytes (NUL included). */
static void
hash_copy_hex(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src);
}

int
hash_file(const char *path, char md5_hex[HASH_MD5_HEX_LEN],
          char sha512_hex[HASH_SHA512_HEX_LEN], hash_progress_fn *progress,
          void *opaque, struct error **errp)
{
    static const char *const algs[] = {"MD5", "SHA512"};
    char *hex[2] = {NULL, NULL};

    if (hash_file_multi(path, 2, algs, hex, progress, opaque, errp) < 0) {
        return -1;
    }
    hash_copy_hex(md5_hex, HASH_MD5_HEX_LEN, hex[0]);
    hash_copy_hex(sha512_hex, HASH_SHA512_HEX_LEN, hex[1]);
    free(hex[0]);
    free(hex[1]);
    return 0;
}

int
hash_file_sha256(const char *path, char sha256_hex[HASH_SHA256_HEX_LEN],
                 hash_progress_fn *progress, void *opaque, struct error **errp)
{
    static const char *const algs[] = {"SHA256"};
    char *hex[1] = {NULL};

    if (hash_file_multi(path, 1, algs, hex, progress, opaque, errp) < 0) {
        return -1;
    }
    hash_copy_hex(sha256_hex, HASH_SHA256_HEX_LEN, hex[0]);
    free(hex[0]);
    return 0;
}
