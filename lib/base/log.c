/* vmsnap: diagnostics on stderr (see log.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "escape.h"
#include "xalloc.h"
#include "xjson.h"

static const char *log_prog = "vmsnap";
static char log_flags[256]; /* copy of VMSNAP_DEBUG, "" when unset */

void
log_init(const char *prog)
{
    if (prog) {
        log_prog = prog;
    }
}

void
log_set_debug(const char *flags)
{
    snprintf(log_flags, sizeof(log_flags), "%s", flags ? flags : "");
}

bool
log_debug_enabled(const char *subsys)
{
    size_t n = strlen(subsys);
    const char *p = log_flags;

    if (log_flags[0] == '\0') {
        return false;
    }
    if (strcmp(log_flags, "all") == 0 || strcmp(log_flags, "1") == 0) {
        return true;
    }
    while ((p = strstr(p, subsys)) != NULL) {
        bool start = p == log_flags || p[-1] == ',';
        bool end = p[n] == '\0' || p[n] == ',';

        if (start && end) {
            return true;
        }
        p += n;
    }
    return false;
}

static void log_vprint(const char *tag, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Print one line; what it quotes (a peer's text, a path) is made safe
 * first, so that a log line never forges another or drives a terminal.
 */
static void
log_vprint(const char *tag, const char *fmt, va_list ap)
{
    int saved = errno;
    char *line = xvasprintf(fmt, ap);
    char *safe = escape_safe(line);

    fprintf(stderr, "%s: %s%s\n", log_prog, tag, safe);
    free(safe);
    free(line);
    errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vprint("warning: ", fmt, ap);
    va_end(ap);
}

void
log_debug_(const char *subsys, const char *fmt, ...)
{
    va_list ap;
    char tag[64];

    snprintf(tag, sizeof(tag), "debug %s: ", subsys);
    va_start(ap, fmt);
    log_vprint(tag, fmt, ap);
    va_end(ap);
}

#define LOG_JSON_MAX 2048

void
log_debug_json(const char *subsys, const char *dir, json_object *msg)
{
    size_t len = 0;
    const char *s;

    if (!log_debug_enabled(subsys)) {
        return;
    }
    s = xjson_text(msg, &len);
    log_debug_(subsys, "%s %.*s%s", dir,
               (int)(len > LOG_JSON_MAX ? LOG_JSON_MAX : len), s,
               len > LOG_JSON_MAX ? "..." : "");
}
