/* vmsnap: JSON messages over a stream socket, with deadlines (see
 * jsock.h).
 */
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "jsock.h"
#include "log.h"
#include "sock.h"
#include "xalloc.h"
#include "xjson.h"

/* Bytes read from the socket at a time. */
#define JSOCK_READ_CHUNK 4096

/* Reads jsock_pending makes at most: a peer that keeps talking is
 * noticed anyway.
 */
#define JSOCK_PENDING_READS 4

#define JSOCK_SENTINEL 0xFF

struct jsock {
    int fd;             /* the socket, owned */
    struct jstream *js; /* splits the input into messages */
    const char *name;   /* the peer in messages, borrowed */
    const char *subsys; /* debug subsystem, borrowed */
    bool resync;        /* the stream has 0xFF sentinels */
    bool broken;        /* the owner must not use it any more */
    bool closed;        /* the peer closed its side */
};

struct jsock *
jsock_new(int fd, const char *name, const char *subsys, size_t max_msg,
          int max_depth, unsigned flags, struct error **errp)
{
    struct jsock *s;
    struct jstream *js;

    js = jstream_new(max_msg, max_depth, flags, errp);
    if (js == NULL) {
        close(fd);
        return NULL;
    }
    s = xcalloc(1, sizeof(*s));
    s->fd = fd;
    s->js = js;
    s->name = name;
    s->subsys = subsys;
    s->resync = (flags & JSTREAM_SENTINEL_FF) != 0;
    return s;
}

void
jsock_free(struct jsock *s)
{
    if (s == NULL) {
        return;
    }
    jstream_free(s->js);
    if (s->fd >= 0) {
        close(s->fd);
    }
    free(s);
}

int
jsock_fd(const struct jsock *s)
{
    return s->fd;
}

/* A failure other than a read timeout: breaks a stream that cannot be
 * resynchronised.
 */
static void
jsock_failed(struct jsock *s)
{
    if (!s->resync) {
        s->broken = true;
    }
}

int
jsock_send(struct jsock *s, json_object *msg, bool sentinel,
           int64_t deadline, struct error **errp)
{
    CLEANUP_FREE char *line = NULL;
    size_t len = 0, off = sentinel ? 1 : 0;
    const char *text = xjson_text(msg, &len);

    line = xmalloc(off + len + 1);
    line[0] = (char)JSOCK_SENTINEL;
    memcpy(line + off, text, len);
    line[off + len] = '\n';
    log_debug_json(s->subsys, sentinel ? "-> 0xff" : "->", msg);
    if (sock_write_all(s->fd, line, off + len + 1, deadline, errp) < 0) {
        jsock_failed(s);
        return -1;
    }
    return 0;
}

enum jstream_result
jsock_read(struct jsock *s, int64_t deadline, json_object **msg,
           size_t *size, struct error **errp)
{
    char buf[JSOCK_READ_CHUNK];
    struct error *err = NULL;
    enum jstream_result r;
    ssize_t n;

    for (;;) {
        r = jstream_next(s->js, msg, errp);
        if (r == JSTREAM_MESSAGE) {
            if (size != NULL) {
                *size = jstream_message_size(s->js);
            }
            log_debug_json(s->subsys, "<-", *msg);
            return r;
        }
        if (r == JSTREAM_SENTINEL) {
            log_debug(s->subsys, "<- 0xff");
            return r;
        }
        if (r == JSTREAM_ERROR) {
            jsock_failed(s);
            return r;
        }
        n = sock_read_some(s->fd, buf, sizeof(buf), deadline, &err);
        if (n == 0) {
            s->closed = true;
            jsock_failed(s);
            error_setg(errp, ERR_PROTOCOL, "%s connection closed%s", s->name,
                       jstream_in_message(s->js)
                           ? " in the middle of a message" : "");
            return JSTREAM_ERROR;
        }
        if (n < 0) {
            if (error_get_class(err) != ERR_TIMEOUT) {
                jsock_failed(s);
            }
            error_propagate(errp, err);
            return JSTREAM_ERROR;
        }
        if (jstream_feed(s->js, buf, (size_t)n, errp) < 0) {
            jsock_failed(s);
            return JSTREAM_ERROR;
        }
    }
}

bool
jsock_pending(struct jsock *s)
{
    char buf[JSOCK_READ_CHUNK];
    ssize_t n;
    int i;

    for (i = 0; i < JSOCK_PENDING_READS; i++) {
        n = sock_read_some(s->fd, buf, sizeof(buf), sock_now_ms(), NULL);
        if (n == 0) {
            s->closed = true;
            jsock_failed(s);
            return false;
        }
        if (n < 0 || jstream_feed(s->js, buf, (size_t)n, NULL) < 0) {
            break;
        }
    }
    return jstream_has_data(s->js);
}

void
jsock_skip_to_sentinel(struct jsock *s)
{
    jstream_skip_to_sentinel(s->js);
}

void
jsock_break(struct jsock *s)
{
    s->broken = true;
}

bool
jsock_is_broken(const struct jsock *s)
{
    return s->broken || s->closed;
}

bool
jsock_is_closed(const struct jsock *s)
{
    return s->closed;
}

int
jsock_usable(const struct jsock *s, struct error **errp)
{
    if (s->broken) {
        error_setg(errp, ERR_PROTOCOL,
                   "%s connection is broken after an earlier error", s->name);
        return -1;
    }
    if (s->closed) {
        error_setg(errp, ERR_PROTOCOL, "%s connection closed", s->name);
        return -1;
    }
    return 0;
}
