/* vmsnap command line: a progress bar on stderr (see progress-bar.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "progress-bar.h"
#include "xalloc.h"

#define BAR_WIDTH 30

struct progress_bar {
    struct progress reporter; /* handed to the library */
    char phase[32];           /* phase being drawn */
    int last_tenths;          /* last drawn value, in 0.1 % */
    bool drawn;               /* something is on the line */
};

static void
progress_bar_draw(const char *phase, double pct, void *opaque)
{
    struct progress_bar *bar = opaque;
    int tenths, fill, i;
    char line[BAR_WIDTH + 1];

    if (pct < 0) {
        pct = 0;
    } else if (pct > 100) {
        pct = 100;
    }
    tenths = (int)(pct * 10);
    if (strcmp(bar->phase, phase) == 0 && tenths == bar->last_tenths) {
        return;
    }
    if (strcmp(bar->phase, phase) != 0 && bar->drawn) {
        fputc('\n', stderr);
    }
    snprintf(bar->phase, sizeof(bar->phase), "%s", phase);
    bar->last_tenths = tenths;
    fill = (int)(pct * BAR_WIDTH / 100);
    for (i = 0; i < BAR_WIDTH; i++) {
        line[i] = i < fill ? '#' : '.';
    }
    line[BAR_WIDTH] = '\0';
    fprintf(stderr, "\r%-10s [%s] %5.1f%%", phase, line, pct);
    fflush(stderr);
    bar->drawn = true;
}

struct progress_bar *
progress_bar_new(bool enabled)
{
    struct progress_bar *bar;

    if (!enabled) {
        return NULL;
    }
    bar = xcalloc(1, sizeof(*bar));
    bar->reporter.fn = progress_bar_draw;
    bar->reporter.opaque = bar;
    bar->last_tenths = -1;
    return bar;
}

const struct progress *
progress_bar_reporter(struct progress_bar *bar)
{
    return bar ? &bar->reporter : NULL;
}

void
progress_bar_free(struct progress_bar *bar)
{
    if (bar == NULL) {
        return;
    }
    if (bar->drawn) {
        fputc('\n', stderr);
    }
    free(bar);
}
