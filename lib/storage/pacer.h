/* vmsnap: how fast a copy may read (issue 15).
 *
 * Two limits, the tighter of which wins:
 *
 *   a fixed rate   bytes per second over the whole copy, as the user
 *                  set it (snapshot.copy_rate_limit), 0: none;
 *   the guest's    the copy gives way to the guest it copies.  On a
 *   need           host whose cores are all busy the guest's vCPU
 *                  threads wait for a core while the copy's threads
 *                  (digests, compression, QEMU serving the reads) run:
 *                  the guest sees it as steal time.  Every
 *                  PACER_SAMPLE_MS the pacer reads how long the vCPUs
 *                  have waited (their run delay in /proc/PID/task/TID/
 *                  schedstat, or libvirt's vcpu.N.delay, the same
 *                  figure); when they waited more than YIELD_PCT % of
 *                  the time, the copy's rate is halved (from what it
 *                  achieved, never below PACER_FLOOR), and while they
 *                  do not, it grows by a quarter per sample until it is
 *                  unlimited again.  On a host with a spare core the
 *                  vCPUs never wait and the copy runs at full speed;
 *                  a guest idle in HLT waits for nothing either.
 *
 * The pacer only computes; the caller sleeps.  Times are the caller's
 * (monotonic ms), so the logic runs the same under a test's clock.
 */
#ifndef VMSNAP_PACER_H
#define VMSNAP_PACER_H

#include <stdint.h>

enum {
    PACER_SAMPLE_MS = 100,          /* how often the vCPUs are looked at */
};

#define PACER_FLOOR (INT64_C(8) << 20)   /* bytes/s the guest's need never
                                          * slows a copy below */
#define PACER_CEILING (INT64_C(4) << 30) /* above this the copy is
                                          * unlimited again */

/* Where the guest's vCPUs' waiting is read. */
struct pacer_probe {
    /* Store in *NS the total time the guest's vCPU threads have waited
     * for a core since they started (ns, never decreasing); -1 when it
     * cannot be read now (the sample is skipped).
     */
    int (*vcpu_delay_ns)(void *opaque, int64_t *ns);
    void *opaque;
};

struct pacer;

/* A pacer for a copy starting at NOW_MS, with the fixed rate LIMIT
 * (bytes/s, 0: none) and, with PROBE (borrowed, outlives the pacer) and
 * YIELD_PCT > 0, giving way to the guest.
 */
struct pacer *pacer_new(int64_t limit, int yield_pct,
                        const struct pacer_probe *probe, int64_t now_ms);

/* The copy has read DONE bytes in all at NOW_MS: how many ms it should
 * wait before reading more (0: none).
 */
int pacer_wait_ms(struct pacer *p, int64_t done, int64_t now_ms);

/* Of the waits pacer_wait_ms asked for, the ms due to the guest's need
 * alone (what the fixed rate would not have asked).
 */
int64_t pacer_yielded_ms(const struct pacer *p);

/* The rate the guest's need allows now (bytes/s), 0: unlimited. */
int64_t pacer_guest_rate(const struct pacer *p);

void pacer_free(struct pacer *p);

#endif
