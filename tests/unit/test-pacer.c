/* pacer.h: a copy paced by a fixed rate and by the guest's waiting for a
 * core, under a clock and a vCPU the test drives.
 */
#include <stdbool.h>

#include "pacer.h"
#include "tap.h"

#define MIB (INT64_C(1) << 20)

/* A guest whose vCPUs wait WAIT_PCT % of the time the copy reads (and,
 * with ALWAYS, of the time it sleeps too: the host is busy with more than
 * the copy), on the test's clock.
 */
struct guest {
    int64_t now_ms;
    int wait_pct;
    bool always;
    int64_t delay_ns;           /* the total so far */
    bool broken;                /* the probe cannot read it */
};

static int
guest_delay(void *opaque, int64_t *ns)
{
    struct guest *g = opaque;

    if (g->broken) {
        return -1;
    }
    *ns = g->delay_ns;
    return 0;
}

/* Copy at READ_RATE bytes/s (what the copy manages when nothing holds it
 * back) for MS of the guest's clock, sleeping as P asks; the guest waits
 * meanwhile.  Returns the bytes read; *DONE is the running total.
 */
static int64_t
run(struct pacer *p, struct guest *g, int64_t *done, int64_t read_rate,
    int64_t ms)
{
    int64_t end = g->now_ms + ms, from = *done;
    const int64_t piece = MIB;

    while (g->now_ms < end) {
        int64_t step = piece * 1000 / read_rate, wait;

        *done += piece;
        g->now_ms += step;
        g->delay_ns += step * 1000000 * g->wait_pct / 100;
        wait = pacer_wait_ms(p, *done, g->now_ms);
        g->now_ms += wait;
        if (g->always) {
            g->delay_ns += wait * 1000000 * g->wait_pct / 100;
        }
    }
    return *done - from;
}

static void
test_fixed(void)
{
    struct pacer *p = pacer_new(MIB, 0, NULL, 1000);

    ok(pacer_wait_ms(p, 0, 1000) == 0, "nothing read: no wait");
    ok(pacer_wait_ms(p, MIB / 2, 1000) == 500,
       "half a MiB at once at 1 MiB/s: wait 500 ms");
    ok(pacer_wait_ms(p, MIB / 2, 1600) == 0, "once that is past: none");
    ok(pacer_yielded_ms(p) == 0, "a fixed rate is not the guest's need");
    pacer_free(p);

    p = pacer_new(0, 0, NULL, 0);
    ok(pacer_wait_ms(p, INT64_C(1) << 40, 1) == 0,
       "no limit and no probe: never a wait");
    pacer_free(p);
}

static void
test_guest(void)
{
    struct guest g = {.now_ms = 0, .wait_pct = 60};
    struct pacer_probe probe = {guest_delay, &g};
    struct pacer *p = pacer_new(0, 10, &probe, 0);
    int64_t done = 0, got;

    /* A busy host: the vCPUs wait 60 % of the time while the copy runs
     * at 400 MiB/s.
     */
    got = run(p, &g, &done, 400 * MIB, 3000);
    ok(got < 400 * MIB * 3 / 4, "the copy read less in 3 s: %lld MiB",
       (long long)(got / MIB));
    ok(pacer_yielded_ms(p) > 1000, "the waits are the guest's: %lld ms",
       (long long)pacer_yielded_ms(p));
    /* The guest waits 60 % of the time the copy reads: 10 % is reached
     * at a sixth of its speed, 67 MiB/s; the rate moves around it.
     */
    run(p, &g, &done, 400 * MIB, 3000);
    ok(pacer_guest_rate(p) >= 33 * MIB && pacer_guest_rate(p) <= 134 * MIB,
       "the rate settles where the guest waits about its share: %lld MiB/s",
       (long long)(pacer_guest_rate(p) / MIB));

    /* The host is busy with more than the copy: the guest waits however
     * slowly it goes, and the copy goes no slower than the floor.
     */
    g.always = true;
    run(p, &g, &done, 400 * MIB, 3000);
    ok(pacer_guest_rate(p) == PACER_FLOOR,
       "a guest kept waiting whatever the copy does: the floor (%lld)",
       (long long)pacer_guest_rate(p));

    /* The host calms down: the copy speeds up again, to no limit. */
    g.always = false;
    g.wait_pct = 0;
    run(p, &g, &done, 400 * MIB, 1000);
    ok(pacer_guest_rate(p) > PACER_FLOOR,
       "the guest no longer waits: the rate grows (%lld)",
       (long long)pacer_guest_rate(p));
    run(p, &g, &done, 400 * MIB, 5000);
    ok(pacer_guest_rate(p) == 0, "and is unlimited again");
    got = run(p, &g, &done, 400 * MIB, 1000);
    ok(got >= 399 * MIB, "the copy runs at its own speed: %lld MiB in 1 s",
       (long long)(got / MIB));
    pacer_free(p);
}

static void
test_guest_calm(void)
{
    struct guest g = {.now_ms = 0, .wait_pct = 5};
    struct pacer_probe probe = {guest_delay, &g};
    struct pacer *p = pacer_new(0, 10, &probe, 0);
    int64_t done = 0;

    ok(run(p, &g, &done, 400 * MIB, 3000) >= 1199 * MIB &&
           pacer_guest_rate(p) == 0 && pacer_yielded_ms(p) == 0,
       "a guest waiting under the share set never slows the copy");
    pacer_free(p);

    g.wait_pct = 90;
    g.broken = true;
    p = pacer_new(0, 10, &probe, g.now_ms);
    done = 0;
    ok(run(p, &g, &done, 400 * MIB, 1000) >= 399 * MIB,
       "a probe that cannot read the vCPUs slows nothing");
    pacer_free(p);

    g.broken = false;
    p = pacer_new(0, 0, &probe, g.now_ms);
    done = 0;
    ok(run(p, &g, &done, 400 * MIB, 1000) >= 399 * MIB,
       "a share of 0 turns giving way off");
    pacer_free(p);
}

static void
test_both(void)
{
    struct guest g = {.now_ms = 0, .wait_pct = 60, .always = true};
    struct pacer_probe probe = {guest_delay, &g};
    struct pacer *p = pacer_new(64 * MIB, 10, &probe, 0);
    int64_t done = 0, got;

    got = run(p, &g, &done, 400 * MIB, 2000);
    ok(got <= 64 * MIB * 2 + MIB, "the fixed rate holds: %lld MiB in 2 s",
       (long long)(got / MIB));
    ok(pacer_guest_rate(p) == PACER_FLOOR && pacer_yielded_ms(p) > 0,
       "and the guest's need slows it further");
    pacer_free(p);
}

int
main(void)
{
    test_fixed();
    test_guest();
    test_guest_calm();
    test_both();
    return tap_done();
}
