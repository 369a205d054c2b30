/* vmsnap: diagnostics on stderr.
 *
 * Debug output is per subsystem: log_set_debug("qmp,qga") (or "all";
 * the debug setting, VMSNAP_DEBUG) turns on log_debug for those names.
 * The flag is tested before the arguments are formatted.  Every function
 * here preserves errno.
 */
#ifndef VMSNAP_LOG_H
#define VMSNAP_LOG_H

#include <stdbool.h>

#include <json-c/json.h>

/* Name the program in messages ("vmsnap", "vmsnapd"). */
void log_init(const char *prog);

/* Trace the subsystems FLAGS names ("qmp,qga", "all"; NULL or "": none). */
void log_set_debug(const char *flags);

/* True when debug output for SUBSYS is on. */
bool log_debug_enabled(const char *subsys);

void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug_(const char *subsys, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Log protocol message MSG of SUBSYS, sent or received as DIR says ("->",
 * "<-"), in plain JSON cut at 2 KiB, when debug output of SUBSYS is on.
 */
void log_debug_json(const char *subsys, const char *dir, json_object *msg);

#define log_debug(subsys, ...)                                                 \
    do {                                                                       \
        if (log_debug_enabled(subsys)) {                                       \
            log_debug_(subsys, __VA_ARGS__);                                   \
        }                                                                      \
    } while (0)

#endif
