/* vmsnap tests: a fake hypervisor driver and guest agent, in memory, that
 * fail on demand, so that the snapshot engine's every failure path runs
 * without QEMU (tests/proto/test-engine.c).
 *
 * Domains live in this process; a backup "copies" with qemu-img convert
 * of the source disk, so that the images made are real qcow2 files the
 * services can check and hash.  The test sets what fails in fake_hv.
 */
#ifndef VMSNAP_TEST_HV_FAKE_H
#define VMSNAP_TEST_HV_FAKE_H

#include <stdbool.h>

#include "hv.h"

/* Where the fake fails.  FAKE_NONE: nowhere. */
enum fake_fail {
    FAKE_NONE = 0,
    FAKE_PREPARE,        /* backup_prepare fails (targets made first) */
    FAKE_FIX,            /* backup_fix fails */
    FAKE_WAIT,           /* backup_wait fails half-way */
    FAKE_FINISH,         /* backup_finish fails */
    FAKE_AGENT_OPEN,     /* the agent cannot be reached */
    FAKE_AGENT_FREEZE,   /* guest-fsfreeze-freeze answers an error */
    FAKE_AGENT_THAW,     /* guest-fsfreeze-thaw answers an error, the
                          * guest stays frozen until status is asked */
    FAKE_START,          /* start fails */
};

/* How many domains vmsnap did not create the fake can show. */
#define FAKE_MAX_FOUND 4

/* The fake's state, which tests read and set.  Every domain shares the
 * one status; the domains in found are those list and find report (as
 * libvirt's domains vmsnap did not create), added with fake_hv_add.
 */
struct fake_hv {
    enum fake_fail fail;     /* what fails next */
    char status[16];         /* of the one domain: ACTIVE, PAUSED,
                              * SHUTOFF */
    bool frozen;             /* the guest's filesystems are frozen */
    bool point_fixed;        /* backup_fix ran */
    int freezes, thaws;      /* how many of each the agent did */
    int backups_open;        /* prepared and not finished or aborted */
    int reaps;               /* backup_reap calls */
    int clean_off;           /* what state says in hv_state.clean_off */
    struct hv_found found[FAKE_MAX_FOUND]; /* the domains list reports,
                                            * owned by the fake */
    size_t nfound;           /* entries in found */
    int destroys;            /* destroy_flags calls that destroyed */
    int forced;              /* of those, with HV_DESTROY_FORCE */
};

extern struct fake_hv fake_hv;

/* Show domain ID named NAME with the disks PATHS (root first, NPATHS,
 * qcow2 for ".qcow2" files, else raw, targets vda, vdb...), an agent
 * channel when AGENT, as vmsnap's own when MANAGED.  Returns its entry.
 */
struct hv_found *fake_hv_add(const char *id, const char *name,
                             const char *const *paths, size_t npaths,
                             bool agent, bool managed);

/* Set property NAME of found domain ID (NULL VALUE: remove it), as
 * set_prop does.
 */
void fake_hv_prop(const char *id, const char *name, const char *value);

/* Forget found domain ID (undefined behind vmsnap's back). */
void fake_hv_remove(const char *id);

/* The driver's table, for hv_open_ops. */
const struct hv_ops *fake_hv_ops(void);

#endif
