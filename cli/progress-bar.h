/* vmsnap command line: a progress bar on stderr for long operations. */
#ifndef VMSNAP_PROGRESS_BAR_H
#define VMSNAP_PROGRESS_BAR_H

#include <stdbool.h>

#include "progress.h"

struct progress_bar;

/* A bar that draws on stderr when ENABLED (the caller checks that stderr
 * is a terminal); a disabled bar draws nothing.  Never fails: without
 * memory it is simply disabled (NULL), and NULL is valid everywhere.
 */
struct progress_bar *progress_bar_new(bool enabled);

/* The reporter to hand to library calls; NULL when disabled. */
const struct progress *progress_bar_reporter(struct progress_bar *bar);

/* End the bar's line and free it; NULL is allowed. */
void progress_bar_free(struct progress_bar *bar);

#endif
