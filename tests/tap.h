/* vmsnap tests: a minimal TAP producer for C test programs.
 *
 * ok (cond, "name") prints one TAP line; tap_done () prints the plan and
 * returns the exit status (0 only when every check passed).  meson runs the
 * programs with protocol 'tap', so each check counts as one test.
 */
#ifndef VMSNAP_TAP_H
#define VMSNAP_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static int tap_count;
static int tap_failed;

static inline __attribute__((format(printf, 2, 3))) bool
ok(bool cond, const char *fmt, ...)
{
    va_list ap;

    tap_count++;
    printf("%sok %d - ", cond ? "" : "not ", tap_count);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    if (!cond) {
        tap_failed++;
    }
    return cond;
}

static inline __attribute__((format(printf, 1, 2))) void
diag(const char *fmt, ...)
{
    va_list ap;

    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static inline int
tap_done(void)
{
    printf("1..%d\n", tap_count);
    return tap_failed ? 1 : 0;
}

#endif
