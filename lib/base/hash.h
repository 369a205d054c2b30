/* vmsnap: checksums of image files (OpenSSL libcrypto, EVP interface).
 *
 * A file is read once, in 1 MiB pieces, and fed to every requested digest
 * at the same time, so an image catalog can record MD5 (Glance's
 * "checksum") and SHA-512 (Glance's "os_hash_value") for the price of one
 * read.  Digests come out as lower-case hexadecimal, NUL-terminated.
 *
 * Buffers and streams are hashed with hash_mem, or piece by piece with a
 * struct hash_ctx.  Algorithm names are those OpenSSL knows ("md5",
 * "sha256", "SHA512", ...; either case).
 *
 * The file functions block on file reads for as long as hashing takes.
 * Every function may be called from several threads at once (a
 * hash_ctx by one thread at a time).
 */
#ifndef VMSNAP_HASH_H
#define VMSNAP_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Buffer sizes of hex digests, NUL included. */
#define HASH_MD5_HEX_LEN 33
#define HASH_SHA256_HEX_LEN 65
#define HASH_SHA512_HEX_LEN 129

/* Buffer size of the longest hex digest (SHA-512), NUL included. */
#define HASH_MAX_HEX_LEN HASH_SHA512_HEX_LEN

/* Most algorithms hash_file_multi computes in one pass. */
#define HASH_MAX_ALGS 8

/* Called after every piece read: DONE bytes hashed out of TOTAL (the size
 * of the file when it was opened, -1 if it has none, e.g. a pipe).  Called
 * once more at the end with DONE the final count.  In the calling thread.
 */
typedef void hash_progress_fn(int64_t done, int64_t total, void *opaque);

/* Hash the file at PATH with each of the N algorithms named in ALGS (names
 * OpenSSL knows: "md5", "sha1", "sha256", "sha512", ...; 1 <= N <=
 * HASH_MAX_ALGS), in one pass.  On success returns 0 and sets HEX[i] to
 * the lower-case hex digest of ALGS[i] (each string is new and the caller
 * frees it).  PROGRESS may be NULL; OPAQUE is passed to it.
 * Returns -1 (HEX untouched) with ERR_INVALID (unknown algorithm, bad N),
 * ERR_NOT_FOUND (no such file) or ERR_IO (open or read failed, or
 * libcrypto failed).  Blocks on file reads.
 */
int hash_file_multi(const char *path, size_t n, const char *const *algs,
                    char **hex, hash_progress_fn *progress, void *opaque,
                    struct error **errp);

/* MD5 and SHA-512 of PATH in one pass, into the caller's buffers.  Errors
 * as hash_file_multi; on failure the buffers are untouched.
 */
int hash_file(const char *path, char md5_hex[HASH_MD5_HEX_LEN],
              char sha512_hex[HASH_SHA512_HEX_LEN], hash_progress_fn *progress,
              void *opaque, struct error **errp);

/* SHA-256 of PATH (OVF manifests), into the caller's buffer.  Errors as
 * hash_file_multi; on failure the buffer is untouched.
 */
int hash_file_sha256(const char *path, char sha256_hex[HASH_SHA256_HEX_LEN],
                     hash_progress_fn *progress, void *opaque,
                     struct error **errp);

/* Write the LEN bytes of BIN as lower-case hexadecimal into HEX, which
 * must hold 2 * LEN + 1 bytes (NUL-terminated).  Cannot fail.
 */
void hash_hex(const void *bin, size_t len, char *hex);

/* Digest the LEN bytes of DATA with ALG into HEX (lower case,
 * NUL-terminated).  Returns 0, or -1 (HEX untouched) with ERR_INVALID
 * (unknown algorithm) or ERR_IO (libcrypto failed).
 */
int hash_mem(const char *alg, const void *data, size_t len,
             char hex[HASH_MAX_HEX_LEN], struct error **errp);

/* A digest computed piece by piece. */
struct hash_ctx;

/* Start a digest with ALG.  Returns a context the caller ends with
 * hash_end or frees with hash_ctx_free, or NULL with ERR_INVALID
 * (unknown algorithm) or ERR_IO (libcrypto failed).
 */
struct hash_ctx *hash_begin(const char *alg, struct error **errp);

/* Feed LEN bytes of DATA.  Returns 0, or -1 with ERR_IO. */
int hash_update(struct hash_ctx *h, const void *data, size_t len,
                struct error **errp);

/* Finish the digest into HEX (lower case, NUL-terminated) and free H
 * (also on failure).  Returns 0, or -1 (HEX untouched) with ERR_IO.
 */
int hash_end(struct hash_ctx *h, char hex[HASH_MAX_HEX_LEN],
             struct error **errp);

/* Free H without finishing it.  NULL is allowed. */
void hash_ctx_free(struct hash_ctx *h);

#endif
