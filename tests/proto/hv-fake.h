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

/* The fake's state, which tests read and set. */
struct fake_hv {
    enum fake_fail fail;     /* what fails next */
    char status[16];         /* of the one domain: ACTIVE, PAUSED,
                              * SHUTOFF */
    bool frozen;             /* the guest's filesystems are frozen */
    bool point_fixed;        /* backup_fix ran */
    int freezes, thaws;      /* how many of each the agent did */
    int backups_open;        /* prepared and not finished or aborted */
    int reaps;               /* backup_reap calls */
};

extern struct fake_hv fake_hv;

/* The driver's table, for hv_open_ops. */
const struct hv_ops *fake_hv_ops(void);

#endif
