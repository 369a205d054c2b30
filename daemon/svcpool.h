/* vmsnapd: service contexts for the connection threads.
 *
 * A struct svc (lib/services/svc.h) belongs to one thread at a time,
 * and vmsnapd answers each connection in its own thread.  The pool lends
 * each request a context of its own for as long as the request lasts
 * (an upload: until its body is in) and takes it back after; idle ones
 * are kept for the next requests, up to a bound, so that the catalog is
 * not opened for every request.  All contexts share one configuration
 * and one data directory; the catalog (SQLite in WAL mode), the locks
 * (flock, one descriptor each) and the image store serialise what must
 * be serialised between them, as between processes.
 *
 * The first context is opened by svcpool_new, with crash recovery (what
 * a vmsnap process that died left is finished or removed before the
 * daemon answers); later ones skip it.
 */
#ifndef VMSNAPD_SVCPOOL_H
#define VMSNAPD_SVCPOOL_H

#include "config.h"
#include "error.h"
#include "svc.h"

struct svcpool;

/* A pool over CFG (borrowed: it must outlive the pool), keeping at most
 * KEEP idle contexts.  Opens the first context (and recovers).  Returns
 * NULL with errp set when the data directory or catalog cannot be
 * opened.
 */
struct svcpool *svcpool_new(const struct config *cfg, unsigned keep,
                            struct error **errp);

/* Close every idle context and free P (NULL is allowed).  Every context
 * lent must have been given back.
 */
void svcpool_free(struct svcpool *p);

/* Lend a context (an idle one, else a new one).  NULL with errp set when
 * a new one cannot be opened.  Thread-safe.
 */
struct svc *svcpool_get(struct svcpool *p, struct error **errp);

/* Give SVC (from svcpool_get) back.  NULL is allowed.  Thread-safe. */
void svcpool_put(struct svcpool *p, struct svc *svc);

/* The configuration the pool was made with. */
const struct config *svcpool_config(const struct svcpool *p);

#endif
