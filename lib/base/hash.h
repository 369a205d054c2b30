/* vmsnap: checksums of image files (OpenSSL libcrypto, EVP interface).
 *
 * A file is read once, in 1 MiB pieces, and fed to every requested digest
 * at the same time, so an image catalog can record MD5 (Glance's
 * "checksum") and SHA-512 (Glance's "os_hash_value") for the price of one
 * read.  Digests come out as lower-case hexadecimal, NUL-terminated.
 *
 * Every function blocks on file reads for as long as hashing takes.  They
 * may be called from several threads at once.
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

#endif
