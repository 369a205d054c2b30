/* vmsnap: checking a data directory and its catalog ("vmsnap verify").
 *
 * What must hold once no operation is half-way (the invariants of the
 * fault matrix, docs/internals/faults.md), checked on the live system:
 *   - the catalog passes its integrity and foreign key checks;
 *   - every active image has its data, of the recorded size, MD5 and
 *     SHA-512, and (qcow2) qemu-img check finds it clean with the
 *     recorded virtual size; every usable volume and volume snapshot has
 *     sound data;
 *   - no record is in a transitional state (an image queued, saving,
 *     importing or pending_delete; a volume or volume snapshot creating
 *     or deleting; a task running; a server busy) without a live owner:
 *     the lock its maker holds;
 *   - no file or directory exists without a record or a live lock that
 *     claims it (images/, volume-snapshots/, volumes/, instances/, tmp/,
 *     locks/);
 *   - no helper process of ours is left running for an owner that is
 *     gone (a qemu-img whose vmsnap died, a vmsnap-worker whose task
 *     ended);
 *   - no running guest is frozen while no snapshot holds it.
 * Each problem found is a finding.  With repair, verify does what
 * recovery does for records left by processes that died, removes what is
 * provably orphaned (never a file a record or a live lock claims), kills
 * left helpers and thaws frozen guests nobody holds, then checks again:
 * a finding that is gone is marked repaired.
 *
 * Open the service context without running recovery (svc_open alone),
 * so that verify sees what dead processes left, as they left it.
 */
#ifndef VMSNAP_VERIFY_H
#define VMSNAP_VERIFY_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "error.h"
#include "svc.h"

/* What verify_run does.  A plain record: zero it, then set what you
 * want.
 */
struct verify_opts {
    bool repair;        /* fix what can be fixed (see above) */
    bool skip_data;     /* do not read the data of images, volumes and
                         * volume snapshots (no hashing, no qemu-img) */
    bool skip_guests;   /* do not ask running servers' agents */
};

/* One problem found. */
struct verify_finding {
    char *check;        /* which check: "catalog", "image data",
                         * "volume data", "volume snapshot data",
                         * "record", "orphan", "lock", "process",
                         * "guest" */
    char *object;       /* what it is about: "image <id>",
                         * "images/<id>.qcow2", "pid 1234 (qemu-img)" */
    char *problem;      /* one phrase */
    bool repairable;    /* repair can fix it */
    bool repaired;      /* repair fixed it (it was gone when checked
                         * again) */
};

/* What verify_run found.  A plain record the caller frees with
 * verify_report_free.
 */
struct verify_report {
    struct verify_finding *findings; /* in the order found */
    size_t n;                        /* entries in findings */
    size_t images;                   /* images checked */
    size_t volumes;                  /* volumes checked */
    size_t volume_snapshots;         /* volume snapshots checked */
    size_t servers;                  /* servers checked */
    size_t guests_unreachable;       /* running servers with an agent that
                                      * did not answer (not a finding) */
    bool repaired;                   /* repair was asked for */
};

/* Check SVC's data directory and catalog as OPTS says, on behalf of WHO
 * (an administrator: anyone else is ERR_INVALID).  *OUT (free with
 * verify_report_free) gets the findings, none when all is well.
 * Returns 0 whatever was found, or -1 when the checks could not run
 * (ERR_INVALID, ERR_IO, ERR_CONFLICT for a busy catalog).  Blocks for as
 * long as reading every image takes (unless OPTS->skip_data), and up to a
 * few seconds per running server with an agent.
 */
int verify_run(struct svc *svc, const struct caller *who,
               const struct verify_opts *opts, struct verify_report **out,
               struct error **errp);

/* The number of findings of R that are not repaired. */
size_t verify_unrepaired(const struct verify_report *r);

/* R as JSON, for front ends: {"findings": [{"check", "object",
 * "problem", "repairable", "repaired"}...], "checked": {"images",
 * "volumes", "volume_snapshots", "servers"}, "guests_unreachable",
 * "repair"}.  A new object (caller puts it).
 */
json_object *verify_report_json(const struct verify_report *r);

/* Free R; NULL is allowed. */
void verify_report_free(struct verify_report *r);

#endif
