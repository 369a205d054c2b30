/* vmsnap: progress reports from long operations to a front end.
 *
 * A long operation (copying, hashing, converting) calls progress_report
 * with the name of its current phase and how far it is, 0 to 100.  The
 * command line draws a bar on a terminal; a NULL reporter draws nothing.
 */
#ifndef VMSNAP_PROGRESS_H
#define VMSNAP_PROGRESS_H

#include <stddef.h>

struct progress {
    void (*fn)(const char *phase, double pct, void *opaque); /* reporter */
    void *opaque;                                           /* its data */
};

/* Report PCT percent of PHASE to P; P or P->fn may be NULL. */
static inline void
progress_report(const struct progress *p, const char *phase, double pct)
{
    if (p && p->fn) {
        p->fn(phase, pct, p->opaque);
    }
}

#endif
