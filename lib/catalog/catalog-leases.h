/* vmsnap: leases, the locks of a catalog that several hosts share
 * (included by catalog.h; see there for the rules every catalog function
 * follows).
 *
 * A lease is a row (kind, id) naming its holder (host, pid, and the
 * process's start, so that a pid used again is not taken for the
 * holder), a fencing token and an expiry time.  Times are the database's
 * clock (db.h, now_ms), never a host's: hosts whose clocks disagree still
 * agree on when a lease ran out.  The holder renews its lease well before
 * it expires (storage/lock-lease.c does, from a thread); one that stops
 * renewing (dead, hung, cut off from the catalog) loses it at expiry.
 *
 * A lease is dead, and may be taken over, when
 *   - it has expired, or
 *   - its holder is on the taker's own host and that process is gone
 *     (the caller's ALIVE tells): a process that dies on a live host
 *     frees its leases at once, as a flock would.
 * A host cannot judge another host's processes; for those only expiry
 * counts.  So host names must be unique among the hosts that share a
 * catalog.
 *
 * The fencing token is new (and larger) on every take.  A holder that
 * may have lost its lease without knowing (paused longer than the lease,
 * cut off) checks it with catalog_lease_check inside the transaction of
 * the write that must not happen after a loss: the write then happens
 * only while the lease is still its own.
 *
 * Kinds and IDs are words of [A-Za-z0-9_-], at most 64 bytes.
 */
#ifndef VMSNAP_CATALOG_LEASES_H
#define VMSNAP_CATALOG_LEASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct catalog;

/* Who holds (or wants) a lease. */
struct lease_owner {
    const char *host;        /* host.name: unique among the hosts */
    int64_t pid;             /* the process */
    const char *started;     /* when that process started ("BOOT/TICKS"):
                              * tells a pid used again apart */
};

/* Is process PID, started at STARTED, still running on this host?
 * OPAQUE is the caller's.  When in doubt, say yes.
 */
typedef bool lease_alive_fn(int64_t pid, const char *started, void *opaque);

/* A lease as recorded (catalog_lease_get).  Strings are owned. */
struct lease {
    char *kind;              /* "instance", "image", "task" */
    char *id;                /* what it locks */
    char *host;              /* the holder's host */
    int64_t pid;             /* the holder's process */
    char *started;           /* its start */
    int64_t token;           /* the fencing token */
    int64_t remaining_ms;    /* until it expires, by the database's clock
                              * (<= 0: expired) */
};

/* Take lease KIND/ID for ME for TTL_MS milliseconds, if it is free or
 * dead (see above; ALIVE with OPAQUE judges processes of ME->host).  Does
 * not wait.  On success *TOKEN is the new fencing token.
 * Returns 0, or -1 with ERR_CONFLICT "KIND ID is busy (held by HOST pid
 * PID)", ERR_INVALID (a bad kind or ID) or the catalog's errors.
 */
int catalog_lease_take(struct catalog *cat, const char *kind, const char *id,
                       const struct lease_owner *me, int ttl_ms,
                       lease_alive_fn *alive, void *opaque, int64_t *token,
                       struct error **errp);

/* Renew lease KIND/ID held with TOKEN for TTL_MS from now.  Returns 0, or
 * -1 with ERR_CONFLICT "KIND ID: lease lost" when it is not held with
 * TOKEN any more (another took it after it expired), or the catalog's
 * errors.
 */
int catalog_lease_renew(struct catalog *cat, const char *kind,
                        const char *id, int64_t token, int ttl_ms,
                        struct error **errp);

/* Release lease KIND/ID if it is still held with TOKEN (else there is
 * nothing to release).  Returns 0, or -1 with the catalog's errors.
 */
int catalog_lease_release(struct catalog *cat, const char *kind,
                          const char *id, int64_t token,
                          struct error **errp);

/* The fence: 0 when lease KIND/ID is held with TOKEN and has not expired;
 * else -1 with ERR_CONFLICT "KIND ID: lease lost".  Call it inside the
 * transaction of the write it guards.
 */
int catalog_lease_check(struct catalog *cat, const char *kind,
                        const char *id, int64_t token, struct error **errp);

/* Is lease KIND/ID held by a live holder (see above, with ME, ALIVE and
 * OPAQUE as for catalog_lease_take)?  1 held, 0 free or dead, -1 on
 * error.
 */
int catalog_lease_held(struct catalog *cat, const char *kind, const char *id,
                       const struct lease_owner *me, lease_alive_fn *alive,
                       void *opaque, struct error **errp);

/* Read lease KIND/ID into *OUT (free with lease_free).  Returns 0, or -1
 * with ERR_NOT_FOUND "no lease KIND ID" or the catalog's errors.
 */
int catalog_lease_get(struct catalog *cat, const char *kind, const char *id,
                      struct lease **out, struct error **errp);

/* Free L; NULL is allowed. */
void lease_free(struct lease *l);

#endif
