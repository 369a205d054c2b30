/* vmsnap: digests of a stream computed beside the caller (issue 15).
 *
 * The MD5 and SHA-512 that Glance records for an image cost about 1.5
 * and 1.1 seconds per GiB of one core here: more than receiving the
 * stream and writing it out.  A hash pipe computes each digest in a
 * thread of its own while the caller goes on, so a stream costs its
 * slowest digest instead of the sum of all, and the caller's own reading
 * and writing overlap the hashing.
 *
 * The caller hands over one piece at a time and keeps its bytes
 * unchanged until the pipe has consumed them: until the next
 * hash_pipe_feed or hash_pipe_wait returns.  A writer that double-buffers
 * (fill one buffer while the other is hashed) never waits for the
 * hashing unless the hashing is the slower side.  Pieces should be large
 * (hundreds of KiB): each one costs a wake-up of every thread.
 *
 * A pipe belongs to one thread (its own threads aside).
 */
#ifndef VMSNAP_HASHPIPE_H
#define VMSNAP_HASHPIPE_H

#include <stddef.h>

#include "error.h"
#include "hash.h"

struct hash_pipe;

/* A pipe computing the N digests named in ALGS (1 <= N <= HASH_MAX_ALGS,
 * names as hash_begin takes them), each in its own thread.  Returns NULL
 * with ERR_INVALID (unknown algorithm, bad N) or ERR_IO (libcrypto, or
 * no thread could be started).
 */
struct hash_pipe *hash_pipe_new(size_t n, const char *const *algs,
                                struct error **errp);

/* Hand the LEN bytes at DATA to every digest and return at once; the
 * bytes must stay unchanged until the next call on P.  Waits first for
 * the previous piece.  Returns 0, or -1 with the error of a digest
 * (ERR_IO), after which only hash_pipe_free is left.
 */
int hash_pipe_feed(struct hash_pipe *p, const void *data, size_t len,
                   struct error **errp);

/* Wait until the last piece fed is consumed.  Returns 0, or -1 as
 * hash_pipe_feed.
 */
int hash_pipe_wait(struct hash_pipe *p, struct error **errp);

/* Wait, then finish every digest: HEX[i] receives ALGS[i]'s digest in
 * lower-case hexadecimal, NUL-terminated.  Returns 0, or -1 (HEX
 * untouched) as hash_pipe_feed.  Only hash_pipe_free is left after.
 */
int hash_pipe_end(struct hash_pipe *p, char (*hex)[HASH_MAX_HEX_LEN],
                  struct error **errp);

/* Stop P's threads and free it.  NULL is allowed. */
void hash_pipe_free(struct hash_pipe *p);

#endif
