/* vmsnap: how fast a copy may read (see pacer.h). */
#include <stdlib.h>

#include "pacer.h"
#include "xalloc.h"

/* The longest wait asked at once: a caller sleeping longer would not
 * see the guest's need change.
 */
enum { PACER_MAX_WAIT_MS = 1000 };

struct pacer {
    int64_t limit;              /* the fixed rate, 0: none */
    int yield_pct;              /* 0: the guest's need is not watched */
    const struct pacer_probe *probe;
    int64_t started_ms;         /* the fixed rate counts from here */
    int64_t rate;               /* the guest's need's rate, 0: unlimited */
    int64_t from_ms;            /* when RATE was set ... */
    int64_t from_done;          /* ... and the bytes read then */
    int64_t sample_ms;          /* the last sample, -1: none yet */
    int64_t sample_delay_ns;    /* the vCPUs' wait then */
    int64_t sample_done;        /* the bytes read then */
    int64_t yielded_ms;         /* waits due to the guest alone */
};

struct pacer *
pacer_new(int64_t limit, int yield_pct, const struct pacer_probe *probe,
          int64_t now_ms)
{
    struct pacer *p = xcalloc(1, sizeof(*p));

    p->limit = limit > 0 ? limit : 0;
    p->yield_pct = probe && probe->vcpu_delay_ns && yield_pct > 0
                       ? yield_pct : 0;
    p->probe = probe;
    p->started_ms = now_ms;
    p->sample_ms = -1;
    return p;
}

static void
pacer_set_rate(struct pacer *p, int64_t rate, int64_t done, int64_t now_ms)
{
    p->rate = rate;
    p->from_ms = now_ms;
    p->from_done = done;
}

/* Look at the vCPUs if a sample is due, and move the guest's rate. */
static void
pacer_sample(struct pacer *p, int64_t done, int64_t now_ms)
{
    int64_t ns, dt, waited_ms, base;

    if (p->yield_pct == 0 ||
        (p->sample_ms >= 0 && now_ms - p->sample_ms < PACER_SAMPLE_MS) ||
        p->probe->vcpu_delay_ns(p->probe->opaque, &ns) < 0) {
        return;
    }
    dt = now_ms - p->sample_ms;
    if (p->sample_ms >= 0 && dt > 0 && ns >= p->sample_delay_ns) {
        waited_ms = (ns - p->sample_delay_ns) / 1000000;
        if (waited_ms * 100 > (int64_t)p->yield_pct * dt) {
            /* From what the copy achieved, if nothing limited it yet. */
            base = p->rate ? p->rate : (done - p->sample_done) * 1000 / dt;
            pacer_set_rate(p, base / 2 > PACER_FLOOR ? base / 2 : PACER_FLOOR,
                           done, now_ms);
        } else if (p->rate) {
            base = p->rate + p->rate / 4;
            pacer_set_rate(p, base > PACER_CEILING ? 0 : base, done, now_ms);
        }
    }
    p->sample_ms = now_ms;
    p->sample_delay_ns = ns;
    p->sample_done = done;
}

int
pacer_wait_ms(struct pacer *p, int64_t done, int64_t now_ms)
{
    int64_t fixed = now_ms, guest = now_ms, end;

    pacer_sample(p, done, now_ms);
    if (p->limit) {
        fixed = p->started_ms + done * 1000 / p->limit;
    }
    if (p->rate) {
        guest = p->from_ms + (done - p->from_done) * 1000 / p->rate;
    }
    end = fixed > guest ? fixed : guest;
    if (end <= now_ms) {
        return 0;
    }
    if (end - now_ms > PACER_MAX_WAIT_MS) {
        end = now_ms + PACER_MAX_WAIT_MS;
    }
    /* The part of this wait the fixed rate alone would not ask. */
    if (end > fixed) {
        p->yielded_ms += end - (fixed > now_ms ? fixed : now_ms);
    }
    return (int)(end - now_ms);
}

int64_t
pacer_yielded_ms(const struct pacer *p)
{
    return p->yielded_ms;
}

int64_t
pacer_guest_rate(const struct pacer *p)
{
    return p->rate;
}

void
pacer_free(struct pacer *p)
{
    free(p);
}
