/* vmsnap: where the chunk store keeps its bytes (the backend seam).
 *
 * The chunk logic (chunk.h) sees objects named by keys, relative paths:
 *   store.json                 the store's parameters
 *   chunks/<3 hex>/<64 hex>    a chunk blob, named by its digest (the
 *                              directory keeps these in pack files)
 *   indexes/<name>.idx         an index
 *   tmp/...                    a backend's own work files (may be absent)
 * A backend keeps them somewhere: a local directory (chunk-backend-dir.c)
 * or an S3 bucket under a prefix (chunk-backend-s3.c).  It knows nothing
 * of chunks, digests or indexes; the store knows nothing of files, fsync,
 * locks or leases.
 *
 * What every backend guarantees (the store's crash-safety and gc rely on
 * exactly this, see docs/internals/chunkstore.md):
 * - put is atomic: a reader sees no object or the whole new one, never a
 *   part; its content is durable when put returns.
 * - After sync returns, every put, touch and remove this backend did
 *   before the call is durable (the names too).  Local: the directories
 *   are fsynced; S3: nothing to do.
 * - Every put and touch sets the object's time to "now" on the backend's
 *   clock; remove_unless_since is atomic against put and touch of the
 *   same key: an object put or touched at or after SINCE is never
 *   removed, even when the two race.
 * - A writer registration lasts until writer_end or the death of the
 *   registering process (local: a flock; S3: a lease object renewed by
 *   its holder).  gc_begin gives "now" and the start of the oldest live
 *   registration on the same clock as object times.
 *
 * S3 cannot remove an object "unless it is newer than" atomically, and
 * its clock has whole seconds.  The S3 backend meets the two points
 * above another way (details in chunk-backend-s3.c): a gc and a writer
 * never run at the same time (gc_begin fails with ERR_CONFLICT while a
 * writer's lease is live, writer_begin waits while a gc's is, until
 * gc_end), so no put or touch ever races with a remove and gc_begin's
 * oldest is always INT64_MAX; touch only checks that the object exists
 * (its time matters only to a gc running beside the writer); object
 * times have whole seconds, so remove_unless_since keeps what may be
 * within a second of SINCE, and gc_begin's now is a second after its
 * lease's time (every object was put before it).  A holder whose lease
 * lapsed (its renewals failed) gets ERR_CONFLICT from put, touch and
 * remove.
 *
 * Methods may be called from several threads at once.  Every method may
 * block on disk or network I/O.  Errors follow error.h; a missing object
 * is ERR_NOT_FOUND.
 */
#ifndef VMSNAP_CHUNK_BACKEND_H
#define VMSNAP_CHUNK_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "s3.h"

#define CHUNK_BACKEND_VERSION 4

/* put flags */
#define CHUNK_PUT_EXCL 0x01u /* ERR_CONFLICT if KEY exists (indexes) */

/* One object as list reports it. */
struct chunk_obj {
    const char *key;  /* its key, borrowed for the callback */
    int64_t mtime_ns; /* last put or touch, backend clock */
    uint64_t size;    /* bytes */
};

struct chunk_backend_ops {
    int version;      /* CHUNK_BACKEND_VERSION it implements */
    const char *name; /* "dir", "s3" */

    /* Store LEN bytes at BUF as KEY, atomically, replacing an existing
     * object unless FLAGS has CHUNK_PUT_EXCL.
     */
    int (*put)(void *be, const char *key, const void *buf, size_t len,
               unsigned flags, struct error **errp);

    /* Store many objects with one flush: put_start writes the LEN bytes
     * at BUF for KEY somewhere invisible and returns *TOKEN; put_finish
     * makes the N started objects durable, then visible, each atomically
     * (as put without flags); put_cancel forgets them.  finish and cancel
     * free the tokens, also on failure (some objects may then be
     * visible, never a partial one).  Local: one journal commit for the
     * whole batch instead of one per object.  A backend whose put is
     * durable and atomic when it returns (S3) may store the object at
     * put_start already; what cancel then leaves is unreferenced, gc's.
     */
    int (*put_start)(void *be, const char *key, const void *buf, size_t len,
                     void **token, struct error **errp);
    int (*put_finish)(void *be, void **tokens, size_t n,
                      struct error **errp);
    void (*put_cancel)(void *be, void **tokens, size_t n);

    /* Read object KEY into a new buffer *BUF (caller frees) of *LEN
     * bytes.  An object over MAX bytes is ERR_PROTOCOL (never read).
     */
    int (*get)(void *be, const char *key, size_t max, uint8_t **buf,
               size_t *len, struct error **errp);

    /* If KEY exists, set its time to now and return 1; else return 0.
     * Writers call it for every chunk they reuse (dedup, parent).
     */
    int (*touch)(void *be, const char *key, struct error **errp);

    /* Return 1 if KEY exists, else 0, leaving its time as it is: a read,
     * for checks of objects gc keeps anyway (a committed index's chunks).
     */
    int (*exists)(void *be, const char *key, struct error **errp);

    /* Optional (NULL: exists for each).  Look up the N keys of KEYS, all
     * "chunks/", sorted and distinct: set *MISSING to the index of the
     * first that does not exist, or to N.  For a store where each call
     * has a cost of its own: a round trip (one listing answers for many
     * keys), a transaction (one answers for all).
     */
    int (*exists_sorted)(void *be, const char *const *keys, size_t n,
                         size_t *missing, struct error **errp);

    /* Call FN for every object whose key starts with PREFIX ("chunks/",
     * "indexes/", "tmp/"), in no particular order.  FN returns 0 to go
     * on, -1 to stop (list then returns -1 without setting an error: FN
     * keeps its own).  Objects put or removed meanwhile may or may not
     * be seen.
     */
    int (*list)(void *be, const char *prefix,
                int (*fn)(const struct chunk_obj *obj, void *opaque),
                void *opaque, struct error **errp);

    /* Remove KEY unless it was put or touched at or after SINCE_NS
     * (INT64_MAX: remove whatever its time).  Returns 1 removed, 0 kept
     * or absent.
     */
    int (*remove_unless_since)(void *be, const char *key, int64_t since_ns,
                               struct error **errp);

    /* Make every put, touch and remove done so far durable. */
    int (*sync)(void *be, struct error **errp);

    /* Register a writer; *START_NS is its start on the object clock, and
     * *TOKEN is passed to writer_end.
     */
    int (*writer_begin)(void *be, void **token, int64_t *start_ns,
                        struct error **errp);
    void (*writer_end)(void *be, void *token);

    /* Start a gc: *NOW_NS is now on the object clock and *OLDEST_NS the
     * start of the oldest live writer (INT64_MAX when none).
     * Registrations of dead writers are dropped.
     */
    int (*gc_begin)(void *be, int64_t *now_ns, int64_t *oldest_ns,
                    struct error **errp);

    /* Free the backend. */
    void (*close)(void *be);

    /* Methods above are valid for version 1. */

    /* End the gc (or verify --repair) that gc_begin started: a backend
     * that keeps writers out during a gc lets them in again.  May be
     * NULL (nothing to do); also done by close.
     */
    void (*gc_end)(void *be);

    /* Methods above are valid for version 2. */

    /* Give back the space of removed objects that remove_unless_since
     * could not free alone (the directory backend's pack files), adding
     * the bytes to *FREED.  gc calls it after its removals and sync.
     * May be NULL (every remove frees its object).
     */
    int (*compact)(void *be, uint64_t *freed, struct error **errp);

    /* The bytes the chunks take where they are kept, space not yet given
     * back by compact included.  May be NULL: the sum of the chunks'
     * sizes as list reports them.
     */
    int (*usage)(void *be, uint64_t *bytes, struct error **errp);

    /* Methods above are valid for version 3. */
};

/* An open backend: its methods and their private state. */
struct chunk_backend {
    const struct chunk_backend_ops *ops; /* methods */
    void *priv;                          /* passed as BE to each */
};

/* The local directory backend rooted at ROOT.  With CREATE, ROOT and its
 * sub-directories are made if missing.  Returns a new backend (free with
 * chunk_backend_close), or NULL with ERR_NOT_FOUND (no such store) or
 * ERR_IO.
 */
struct chunk_backend *chunk_backend_dir_open(const char *root, bool create,
                                             struct error **errp);

/* What chunk_backend_s3_open needs.  Strings are borrowed for the call. */
struct chunk_backend_s3_settings {
    struct s3_settings s3;  /* the bucket (s3.h) */
    const char *prefix;     /* keys go under it: "chunkstore/" */
    const char *holder;     /* this host, named in its leases */
    int lease_ttl_s;        /* a dead holder's leases stay taken this
                             * long; writers wait for a gc at most 5
                             * times as long; 0: 60 */
};

/* The S3 backend keeping the store's objects in SET's bucket under
 * SET->prefix (no connection is kept; each call opens or reuses one).
 * With CREATE, a missing bucket is made.  Returns a new backend (free
 * with chunk_backend_close), or NULL with ERR_NOT_FOUND (no bucket),
 * ERR_INVALID (bad settings) or the S3 client's error.
 */
struct chunk_backend *chunk_backend_s3_open(
    const struct chunk_backend_s3_settings *set, bool create,
    struct error **errp);

/* Close BE and free it; NULL is allowed. */
void chunk_backend_close(struct chunk_backend *be);

/* True if KEY is a key the store makes: plain names of [A-Za-z0-9._-]
 * separated by single '/', none empty, none starting with '.', at most
 * 255 bytes.  Backends refuse other keys with ERR_INVALID.
 */
bool chunk_key_valid(const char *key);

#endif
