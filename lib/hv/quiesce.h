/* vmsnap: quiescing a guest through its agent, with a thaw guarantee.
 *
 * Linux has no automatic thaw: a guest whose filesystems stay frozen
 * blocks every write until someone thaws it (OpenStack left guests frozen,
 * LP#1754360, LP#1731986).  So before freezing, quiesce_freeze forks a
 * watchdog process with an agent of its own (agent_reopen_in_child, made
 * at once: the qga socket shared, or a libvirt connection of its own,
 * retried until libvirtd answers) that thaws the guest when
 *   - this process dies (even by SIGKILL: the watchdog sees its pipe
 *     close), or
 *   - this process does not confirm a thaw within max_frozen_ms after the
 *     freeze's own timeout, or
 *   - this process hands the thaw over (quiesce_abandon) because the agent
 *     stopped answering: the watchdog then keeps retrying, for up to
 *     QUIESCE_RESCUE_S seconds, until the agent says "thawed".  A hung
 *     agent that wakes up later runs the freeze we sent, then our thaw.
 * The watchdog runs in its own session so that a Ctrl-C on the terminal
 * does not kill it with us.
 */
#ifndef VMSNAP_QUIESCE_H
#define VMSNAP_QUIESCE_H

#include <stdint.h>

#include "error.h"
#include "agent.h"

/* How long the watchdog keeps trying to thaw an unresponsive agent. */
#define QUIESCE_RESCUE_S 3600

struct quiesce;

/* Freeze the guest's filesystems through agent A (guest-fsfreeze-freeze,
 * which runs the guest's fsfreeze hooks first) within TIMEOUT_MS, with a
 * watchdog that thaws after MAX_FROZEN_MS at the latest.  A stays owned
 * by the caller and must outlive the session.
 * Returns the frozen session, or NULL with errp set.  On failure the
 * guest is thawed, or, when the agent did not answer, the watchdog goes
 * on thawing in the background: the caller never has to thaw.
 */
struct quiesce *quiesce_freeze(struct agent *a, int timeout_ms,
                               int max_frozen_ms, struct error **errp);

/* Thaw the guest (guest-fsfreeze-thaw; when that fails,
 * guest-fsfreeze-status until it says "thawed"; retried until
 * TIMEOUT_MS), stop the watchdog and free Q (in every case).  *FROZEN_MS
 * is how long the filesystems were frozen: from the freeze request to the
 * confirmed thaw (an upper bound: it includes the agent's hooks and its
 * FIFREEZE/FITHAW work).  *HELD_MS is the part this process controls:
 * from the agent's freeze reply to the thaw request.
 * Returns 0 when thawed and confirmed; 1 when the freeze held but the
 * thaw is not confirmed yet (the watchdog takes over, see above; errp
 * says why); -1 with ERR_TIMEOUT when the watchdog had already thawed the
 * guest because this process overran the window (QUIESCE: the guest may
 * have run unfrozen inside it, so the result is not quiesced).
 */
int quiesce_thaw(struct quiesce *q, int timeout_ms, int64_t *frozen_ms,
                 int64_t *held_ms, struct error **errp);

#endif
