/* vmsnap: the service context, what every service call works with.
 *
 * A front end (the vmsnap command, the worker, the REST daemon) loads a
 * configuration, opens one struct svc with it and passes it, with the
 * caller on whose behalf it acts, to the services (images.h, servers.h,
 * volumes.h, snapshot.h, backup.h, package.h, task.h).  The context
 * holds the open catalog, the image-data store, the lock manager and,
 * opened on first use, the hypervisor driver.
 *
 * A front end runs crash recovery once right after opening the context
 * (recover_all, recover.h), so that records a dead process left
 * half-made are finished or removed before anything is listed or made.
 *
 * A struct svc belongs to one thread at a time and must not cross a
 * fork (worker processes are started with fork+exec and open their own).
 */
#ifndef VMSNAP_SVC_H
#define VMSNAP_SVC_H

#include <stdbool.h>

#include "blob.h"
#include "catalog.h"
#include "config.h"
#include "error.h"
#include "hv.h"
#include "lock.h"

struct svc;

/* On whose behalf a service acts.  The local command runs as the admin
 * of the default project; the daemon gives the token's user.
 */
struct caller {
    const char *user_id;     /* a user UUID, or NULL for the local admin */
    const char *project_id;  /* the project acted in, or NULL for the
                              * default project */
    bool admin;              /* role admin: sees and acts on everything */
    const char *request_id;  /* the request this is done for
                              * ("req-<uuid>": the REST API's), named in
                              * the instance actions recorded; NULL: a
                              * new one per action */
};

/* Open a context with CFG (borrowed; must outlive the context): the data
 * directory (created if needed, and refused when others can write it),
 * the catalog, the image store and the locks.  With catalog.connection
 * set, the catalog is that PostgreSQL database, shared with other hosts,
 * and locks are leases in it (lock.h); else the catalog is SQLite in the
 * data directory and locks are flocks there.  Returns NULL with errp
 * set.
 */
struct svc *svc_open(const struct config *cfg, struct error **errp);

/* Close SVC; NULL is allowed. */
void svc_close(struct svc *svc);

/* The configuration the context was opened with. */
const struct config *svc_config(const struct svc *svc);

/* The data directory (absolute path), borrowed. */
const char *svc_dir(const struct svc *svc);

/* This host's name (host.name), borrowed: the host of the servers it
 * creates, and the holder named by its leases.
 */
const char *svc_host(const struct svc *svc);

/* The caller the local command acts as: the admin of the default
 * project.  Valid as long as SVC.
 */
const struct caller *svc_local_caller(struct svc *svc);

/* ---- For the services only ----------------------------------------
 * Front ends never reach under the services (scripts/check-layers.sh).
 */

/* The open catalog, image store and lock manager; borrowed. */
struct catalog *svc_catalog(struct svc *svc);
struct blob *svc_blob(struct svc *svc);
struct locks *svc_locks(struct svc *svc);

/* The hypervisor driver, opened on first use (so that commands that
 * never touch a server do not need libvirtd).  NULL with errp set when
 * it cannot be opened.
 */
struct hv *svc_hv(struct svc *svc, struct error **errp);

/* Use HV (taken over: closed with SVC) as the hypervisor driver, in
 * place of the configured one: the tests' fake driver.
 */
void svc_use_hv(struct svc *svc, struct hv *hv);

/* Take lock KIND/ID (lock.h), with WAIT. */
int svc_lock(struct svc *svc, const char *kind, const char *id, bool wait,
             struct lock **out, struct error **errp);

/* Does server INST run on this host?  Its host is this host's name, or
 * unrecorded (a record made before servers had hosts), or the catalog is
 * not shared (SQLite: every server in it is this host's).
 */
bool svc_is_local(const struct svc *svc, const struct instance *inst);

/* 0 when INST runs on this host, else -1 with ERR_CONFLICT "server NAME
 * runs on host H, not on this host (ME): ask there".
 */
int svc_must_be_local(const struct svc *svc, const struct instance *inst,
                      struct error **errp);

/* May WHO see a record owned by project OWNER (NULL: the default
 * project)?  Admins see everything.
 */
bool svc_may_see(const struct caller *who, const char *owner);

/* A command that failed could not put its record KIND ID ("image",
 * "volume") back or mark it failed: the catalog refused the write twice
 * (a full disk, a disk error).  Say on stderr that the record stays as it
 * is for the next command's recovery (recover.h; its lock is free then)
 * to finish, in words the fault matrix looks for.
 */
void svc_left_for_recovery(const char *kind, const char *id);

/* Test hooks (test.backup_pause, test.request_pause): FIFO is the path of
 * a FIFO; say WHAT paused, make "FIFO.paused", then wait for a line on
 * the FIFO.
 */
void svc_test_pause(const char *fifo, const char *what);

#endif
