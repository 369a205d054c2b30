/* vmsnap: what listings said, kept to answer "is this key there?".
 *
 * A listing of an object store answers for every key of a range of the
 * key space at once: from the key it started at up to the last it
 * returned (to the end when it was the last page).  This keeps such
 * ranges and their keys, so that a lookup of any key inside one is
 * answered without a request: 1 present, 0 absent.
 *
 * What an answer is worth is the caller's to judge: a listing is true at
 * the time it was made.  The S3 chunk backend keeps one while it holds a
 * writer lease, during which no gc can remove a chunk (chunk-backend-s3.c),
 * so that a chunk listed then is there until the lease ends; a key put
 * since is added with listed_insert, and one another writer put since is
 * absent here (putting it again is harmless: chunks are content-addressed).
 *
 * Ranges never overlap: a range added over the start of a later one is
 * cut there (the later one answers from its own start).  At most MAX_KEYS
 * keys are kept; a listing past that is refused.  Thread-safe.
 */
#ifndef VMSNAP_LISTED_H
#define VMSNAP_LISTED_H

#include <stdbool.h>
#include <stddef.h>

struct listed;

/* An empty set that keeps at most MAX_KEYS keys. */
struct listed *listed_new(size_t max_keys);

/* Free L; NULL is allowed. */
void listed_free(struct listed *l);

/* Forget every range and key. */
void listed_clear(struct listed *l);

/* 1 if KEY lies in a listed range and was listed (or inserted), 0 if it
 * lies in one and was not, -1 if no range covers it.
 */
int listed_lookup(struct listed *l, const char *key);

/* Record a listing that covered every key from LO (inclusive) to HI
 * (inclusive; NULL: to the end of the key space) and found the N keys of
 * KEYS (sorted, each in that range; copied).  LO must not lie in a range
 * already listed (a lookup of LO returned -1).  Returns false, recording
 * nothing, when that would keep more than MAX_KEYS keys.
 */
bool listed_add(struct listed *l, const char *lo, const char *hi,
                const char *const *keys, size_t n);

/* KEY exists now (it was just put): if a range covers it, add it there. */
void listed_insert(struct listed *l, const char *key);

/* Keys kept, for tests and statistics. */
size_t listed_count(struct listed *l);

#endif
