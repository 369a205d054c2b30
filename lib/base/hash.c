/* vmsnap: checksums of buffers and image files (see hash.h). */
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

struct hash_ctx {
    EVP_MD *md;      /* the fetched algorithm */
    EVP_MD_CTX *ctx; /* its running state */
    char *alg;       /* its name, for messages */
};

void
hash_hex(const void *bin, size_t len, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *b = bin;
    size_t i;

    for (i = 0; i < len; i++) {
        hex[2 * i] = digits[b[i] >> 4];
        hex[2 * i + 1] = digits[b[i] & 0xf];
    }
    hex[2 * len] = '\0';
}

void
hash_ctx_free(struct hash_ctx *h)
{
    if (h == NULL) {
        return;
    }
    EVP_MD_CTX_free(h->ctx);
    EVP_MD_free(h->md);
    free(h->alg);
    free(h);
}

struct hash_ctx *
hash_begin(const char *alg, struct error **errp)
{
    struct hash_ctx *h;
    EVP_MD *md = EVP_MD_fetch(NULL, alg, NULL);

    if (md == NULL) {
        error_setg(errp, ERR_INVALID, "unknown digest algorithm %s", alg);
        return NULL;
    }
    h = xcalloc(1, sizeof(*h));
    h->md = md;
    h->ctx = xcheck(EVP_MD_CTX_new());
    h->alg = xstrdup(alg);
    if (EVP_DigestInit_ex(h->ctx, md, NULL) != 1) {
        error_setg(errp, ERR_IO, "cannot initialise digest %s", alg);
        hash_ctx_free(h);
        return NULL;
    }
    return h;
}

int
hash_update(struct hash_ctx *h, const void *data, size_t len,
            struct error **errp)
{
    if (EVP_DigestUpdate(h->ctx, data, len) != 1) {
        error_setg(errp, ERR_IO, "digest %s: update failed", h->alg);
        return -1;
    }
    return 0;
}

int
hash_end(struct hash_ctx *h, char hex[HASH_MAX_HEX_LEN], struct error **errp)
{
    unsigned char bin[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    int r = 0;

    if (EVP_DigestFinal_ex(h->ctx, bin, &len) != 1 ||
        2 * (size_t)len + 1 > HASH_MAX_HEX_LEN) {
        error_setg(errp, ERR_IO, "digest %s failed", h->alg);
        r = -1;
    } else {
        hash_hex(bin, len, hex);
    }
    hash_ctx_free(h);
    return r;
}

int
hash_mem(const char *alg, const void *data, size_t len,
         char hex[HASH_MAX_HEX_LEN], struct error **errp)
{
    struct hash_ctx *h = hash_begin(alg, errp);

    if (h == NULL) {
        return -1;
    }
    if (hash_update(h, data, len, errp) < 0) {
        hash_ctx_free(h);
        return -1;
    }
    return hash_end(h, hex, errp);
}

/* Read FD to its end, feeding every context of H[0, N). */
static int
hash_read_all(int fd, const char *path, struct hash_ctx **h, size_t n,
              hash_progress_fn *progress, void *opaque, int64_t total,
              struct error **errp)
{
    CLEANUP_FREE unsigned char *buf = xmalloc(HASH_CHUNK);
    int64_t done = 0;
    size_t i;

    for (;;) {
        ssize_t got = read(fd, buf, HASH_CHUNK);

        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            error_setg_errno(errp, ERR_IO, errno, "read %s", path);
            return -1;
        }
        if (got == 0) {
            break;
        }
        for (i = 0; i < n; i++) {
            if (hash_update(h[i], buf, (size_t)got, errp) < 0) {
                error_prepend(errp, "hash %s: ", path);
                return -1;
            }
        }
        done += got;
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
    struct hash_ctx *h[HASH_MAX_ALGS] = {NULL};
    char *out[HASH_MAX_ALGS] = {NULL};
    CLEANUP_CLOSE int fd = -1;
    int64_t total = -1;
    struct stat st;
    size_t i;
    int r = -1;

    if (n == 0 || n > HASH_MAX_ALGS) {
        error_setg(errp, ERR_INVALID,
                   "hash %s: %zu digests asked, 1 to %d allowed", path, n,
                   HASH_MAX_ALGS);
        return -1;
    }
    for (i = 0; i < n; i++) {
        h[i] = hash_begin(algs[i], errp);
        if (h[i] == NULL) {
            goto out;
        }
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

    if (hash_read_all(fd, path, h, n, progress, opaque, total, errp) < 0) {
        goto out;
    }
    for (i = 0; i < n; i++) {
        out[i] = xmalloc(HASH_MAX_HEX_LEN);
        r = hash_end(h[i], out[i], errp);
        h[i] = NULL;
        if (r < 0) {
            error_prepend(errp, "hash %s: ", path);
            goto out;
        }
    }
    for (i = 0; i < n; i++) {
        hex[i] = out[i];
        out[i] = NULL;
    }
    r = 0;

out:
    for (i = 0; i < n; i++) {
        hash_ctx_free(h[i]);
        free(out[i]);
    }
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
