/* vmsnap: running instances (what Nova's compute manager does).
 *
 * An instance is a catalog record plus a directory instances/<uuid>/:
 *   root.qcow2    the root disk, a qcow2 overlay on the image's data file
 *                 (the image file itself is never written)
 *   qmp.sock      QMP monitor for operations (one client at a time)
 *   status.sock   a second QMP monitor, for status queries only, so that
 *                 "server show" answers while a snapshot holds qmp.sock
 *   qga.sock      the guest agent's channel, present only when the image
 *                 has hw_qemu_guest_agent=yes
 *   console.log   the guest's serial console
 *   qemu.pid      pid of the detached QEMU
 * QEMU runs detached (-daemonize) from the command that started it.  The
 * status shown always comes from QEMU itself (query-status), so a QEMU
 * that died shows as not running, never as a stale ACTIVE.
 *
 * Operations that change an instance take its lock (store_lock_instance).
 */
#ifndef VMSNAP_COMPUTE_H
#define VMSNAP_COMPUTE_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"
#include "error.h"
#include "qga.h"
#include "qmp.h"
#include "store.h"

/* What "server create" asks for. */
struct compute_new {
    const char *name;   /* unique server name */
    const char *image;  /* image name or ID to boot */
    int64_t memory_mb;  /* 0: the larger of 256 and the image's min_ram */
    int cpus;           /* 0: 1 */
    const char *accel;  /* "kvm", "tcg", "auto" or NULL (= $VMSNAP_ACCEL,
                         * else auto) */
};

/* What QEMU says about an instance. */
struct compute_state {
    char status[16];    /* ACTIVE, PAUSED, SHUTOFF, BUILD */
    char power[16];     /* QEMU's run state ("running", "paused", ...) or
                         * "shutdown" when no QEMU runs */
    char fault[160];    /* why it is not in its expected state, or "" */
    int pid;            /* QEMU's pid, 0 when not running */
};

/* Create and boot instance SPEC.  The image must be active; it boots by
 * direct kernel boot when it has kernel_id and ramdisk_id properties,
 * else from its disk.  On success *OUT (caller frees) is the new
 * instance, already running; on failure nothing is left behind.
 */
int compute_create(struct store *store, const struct compute_new *spec,
                   struct instance **out, struct error **errp);

/* Start a stopped instance; ERR_CONFLICT if it runs already. */
int compute_start(struct store *store, const struct instance *inst,
                  struct error **errp);

/* Stop INST: a clean shutdown (guest-shutdown through the agent when
 * there is one, else ACPI power-down), waiting up to TIMEOUT_S seconds,
 * then forced (QMP quit, then SIGKILL).  Stopping a stopped instance is
 * not an error.
 */
int compute_stop(struct store *store, const struct instance *inst,
                 int timeout_s, struct error **errp);

/* Pause (QMP stop) or resume (QMP cont) a running instance. */
int compute_pause(struct store *store, const struct instance *inst,
                  bool pause, struct error **errp);

/* Stop INST at once (no clean shutdown), then remove its directory and
 * its record.
 */
int compute_delete(struct store *store, const struct instance *inst,
                   struct error **errp);

/* Ask QEMU for the state of INST (see struct compute_state).  Fails only
 * on a bad data directory; a dead or hung QEMU is a state, not an error.
 */
int compute_state(struct store *store, const struct instance *inst,
                  struct compute_state *st, struct error **errp);

/* Connect to INST's operations monitor (caller closes). */
struct qmp *compute_qmp(struct store *store, const struct instance *inst,
                        struct error **errp);

/* Connect to INST's guest agent and synchronise, within TIMEOUT_MS
 * (caller closes).  ERR_INVALID when the instance has no agent channel.
 */
struct qga *compute_qga(struct store *store, const struct instance *inst,
                        int timeout_ms, struct error **errp);

/* True when INST was booted with a guest-agent channel. */
bool compute_has_agent(const struct instance *inst);

#endif
