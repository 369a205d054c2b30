/* vmsnap: errors carried with their reason (see error.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "escape.h"
#include "xalloc.h"

struct error {
    enum error_class cls; /* what kind of failure */
    char *peer_class;     /* class string a peer gave, or NULL */
    char *msg;            /* the message, without trailing punctuation */
};

/* MSG (ownership taken) made safe to print (text.h): a message may quote
 * text from a peer, a file or a user, and must never forge lines or
 * send escape sequences to a terminal.  Returns a new string.
 */
static char *
error_safe(char *msg)
{
    char *safe;

    if (escape_is_safe(msg)) {
        return msg;
    }
    safe = escape_text(msg);
    free(msg);
    return safe;
}

static void
error_install(struct error **errp, enum error_class cls, char *msg,
              const char *peer_class)
{
    struct error *err;

    if (errp == NULL) {
        free(msg);
        return;
    }
    if (*errp != NULL) {
        /* Two errors on one pointer: the first would be lost silently. */
        fprintf(stderr, "vmsnap: internal error: error set twice: %s / %s\n",
                error_msg(*errp), msg ? msg : "?");
        abort();
    }
    err = xcalloc(1, sizeof(*err));
    err->cls = cls;
    err->msg = error_safe(msg);
    err->peer_class = peer_class ? xstrdup(peer_class) : NULL;
    *errp = err;
}

void
error_setg(struct error **errp, enum error_class cls, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = xvasprintf(fmt, ap);
    va_end(ap);
    error_install(errp, cls, msg, NULL);
}

void
error_setg_errno(struct error **errp, enum error_class cls, int errnum,
                 const char *fmt, ...)
{
    va_list ap;
    char *msg, *full;

    va_start(ap, fmt);
    msg = xvasprintf(fmt, ap);
    va_end(ap);
    full = xasprintf("%s: %s", msg, strerror(errnum));
    free(msg);
    error_install(errp, cls, full, NULL);
}

void
error_set_peer(struct error **errp, const char *peer_class, const char *fmt,
               ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = xvasprintf(fmt, ap);
    va_end(ap);
    error_install(errp, ERR_PEER, msg, peer_class);
}

void
error_prepend(struct error **errp, const char *fmt, ...)
{
    va_list ap;
    char *prefix, *full;

    if (errp == NULL || *errp == NULL) {
        return;
    }
    va_start(ap, fmt);
    prefix = xvasprintf(fmt, ap);
    va_end(ap);
    full = xasprintf("%s%s", prefix, (*errp)->msg);
    free((*errp)->msg);
    (*errp)->msg = error_safe(full);
    free(prefix);
}

void
error_propagate(struct error **dst, struct error *local)
{
    if (local == NULL) {
        return;
    }
    if (dst == NULL || *dst != NULL) {
        error_free(local);
        return;
    }
    *dst = local;
}

const char *
error_msg(const struct error *err)
{
    return err->msg ? err->msg : "unknown error";
}

enum error_class
error_get_class(const struct error *err)
{
    return err->cls;
}

const char *
error_peer_class(const struct error *err)
{
    return err->peer_class;
}

void
error_report(const char *prog, struct error *err)
{
    char *msg;

    if (err == NULL) {
        return;
    }
    /* Safe already (error_safe); escaped again in case a message ever
     * reaches here another way.
     */
    msg = escape_safe(error_msg(err));
    fprintf(stderr, "%s: %s\n", prog, msg);
    free(msg);
    error_free(err);
}

void
error_free(struct error *err)
{
    if (err == NULL) {
        return;
    }
    free(err->msg);
    free(err->peer_class);
    free(err);
}

const char *
error_class_name(enum error_class cls)
{
    switch (cls) {
    case ERR_INVALID:
        return "invalid";
    case ERR_NOT_FOUND:
        return "not_found";
    case ERR_CONFLICT:
        return "conflict";
    case ERR_IO:
        return "io";
    case ERR_TIMEOUT:
        return "timeout";
    case ERR_PROTOCOL:
        return "protocol";
    case ERR_PEER:
        return "peer";
    case ERR_GENERIC:
        break;
    }
    return "generic";
}
