/* vmsnap: QEMU Machine Protocol client (see qmp.h).
 *
 * Wire format (qemu docs/interop/qmp-spec.rst): the server greets with
 * {"QMP": {...}}; the client sends {"execute": NAME, "arguments": {...},
 * "id": ID}; the server answers {"return": VALUE, "id": ID} or
 * {"error": {"class": C, "desc": D}, "id": ID}, and sends events
 * {"event": NAME, "data": {...}, "timestamp": {...}} at any time.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "jsock.h"
#include "log.h"
#include "qmp.h"
#include "sock.h"
#include "escape.h"
#include "xalloc.h"
#include "xjson.h"

/* One queued event. */
struct qmp_event {
    json_object *ev; /* the event, owned */
    size_t size;     /* its size on the wire, in bytes */
};

struct qmp {
    struct jsock *sock;                   /* the monitor connection */
    json_object *greeting;                /* {"QMP": ...}, owned */
    int64_t next_id;                      /* id of the next command */
    struct qmp_event events[QMP_MAX_EVENTS]; /* queued events, a ring */
    int ev_head;                          /* index of the oldest event */
    int ev_count;                         /* number of queued events */
    size_t ev_bytes;                      /* sum of their sizes */
};

_Static_assert(QMP_MAX_EVENT_BYTES >= QMP_MAX_MESSAGE,
               "the event queue must hold one event of the largest size");

/* What a message from the server is. */
enum qmp_kind {
    QMP_KIND_BAD,      /* none of the below, or malformed */
    QMP_KIND_GREETING, /* {"QMP": {...}} */
    QMP_KIND_REPLY,    /* {"return": ...} or {"error": {...}} */
    QMP_KIND_EVENT,    /* {"event": "NAME", ...} */
};

/* Read the next complete message before DEADLINE into *MSG (a reference
 * the caller puts) and its size into *SIZE (if not NULL).  A timeout
 * leaves the connection usable (a partial message stays buffered);
 * anything else breaks it (jsock.h).
 */
static int
qmp_read_msg(struct qmp *q, int64_t deadline, json_object **msg,
             size_t *size, struct error **errp)
{
    /* Without sentinels, jsock_read returns messages or errors only. */
    return jsock_read(q->sock, deadline, msg, size, errp) == JSTREAM_MESSAGE
               ? 0
               : -1;
}

static enum qmp_kind
qmp_classify(json_object *msg)
{
    json_object *v;

    if (json_object_object_get_ex(msg, "event", &v)) {
        return json_object_is_type(v, json_type_string) ? QMP_KIND_EVENT
                                                         : QMP_KIND_BAD;
    }
    if (json_object_object_get_ex(msg, "return", NULL) ||
        json_object_object_get_ex(msg, "error", NULL)) {
        return QMP_KIND_REPLY;
    }
    if (json_object_object_get_ex(msg, "QMP", &v)) {
        return json_object_is_type(v, json_type_object) ? QMP_KIND_GREETING
                                                         : QMP_KIND_BAD;
    }
    return QMP_KIND_BAD;
}

static const char *
qmp_event_name(json_object *ev)
{
    json_object *v = NULL;

    json_object_object_get_ex(ev, "event", &v);
    return json_object_get_string(v);
}

/* The queued event at position I (0 is the oldest). */
static struct qmp_event *
qmp_event_at(struct qmp *q, int i)
{
    return &q->events[(q->ev_head + i) % QMP_MAX_EVENTS];
}

/* Remove the event at queue position I and return it (ownership passes
 * to the caller).
 */
static json_object *
qmp_dequeue_at(struct qmp *q, int i)
{
    struct qmp_event e = *qmp_event_at(q, i);
    int j;

    for (j = i; j > 0; j--) {
        *qmp_event_at(q, j) = *qmp_event_at(q, j - 1);
    }
    qmp_event_at(q, 0)->ev = NULL;
    q->ev_head = (q->ev_head + 1) % QMP_MAX_EVENTS;
    q->ev_count--;
    q->ev_bytes -= e.size;
    return e.ev;
}

/* Append EV (ownership taken) of SIZE bytes to the queue, first dropping
 * the oldest events while it is full in count or in bytes.
 */
static void
qmp_enqueue(struct qmp *q, json_object *ev, size_t size)
{
    json_object *old;

    while (q->ev_count > 0 && (q->ev_count == QMP_MAX_EVENTS ||
                               size > QMP_MAX_EVENT_BYTES - q->ev_bytes)) {
        old = qmp_dequeue_at(q, 0);
        log_warnx("QMP event queue full: dropping event %s",
                  qmp_event_name(old));
        json_object_put(old);
    }
    *qmp_event_at(q, q->ev_count) = (struct qmp_event){.ev = ev,
                                                       .size = size};
    q->ev_count++;
    q->ev_bytes += size;
}

/* True when the reply MSG carries the integer id ID. */
static bool
qmp_reply_has_id(json_object *msg, int64_t id)
{
    json_object *v;

    return json_object_object_get_ex(msg, "id", &v) &&
           json_object_is_type(v, json_type_int) &&
           json_object_get_int64(v) == id;
}

/* Turn the reply MSG (borrowed) to COMMAND into the "return" value (a new
 * reference) or an error.  A malformed reply breaks the connection; an
 * error reply does not.
 */
static json_object *
qmp_reply_value(struct qmp *q, json_object *msg, const char *command,
                struct error **errp)
{
    json_object *ret, *error, *cls = NULL, *desc = NULL;
    CLEANUP_FREE char *d = NULL;

    if (json_object_object_get_ex(msg, "error", &error)) {
        if (!json_object_is_type(error, json_type_object) ||
            !json_object_object_get_ex(error, "class", &cls) ||
            !json_object_is_type(cls, json_type_string) ||
            !json_object_object_get_ex(error, "desc", &desc) ||
            !json_object_is_type(desc, json_type_string)) {
            error_setg(errp, ERR_PROTOCOL,
                       "%s: malformed QMP error reply", command);
            jsock_break(q->sock);
            return NULL;
        }
        /* The peer's text, made safe to print (text.h). */
        d = escape_safe(json_object_get_string(desc));
        error_set_peer(errp, json_object_get_string(cls), "%s: %s", command,
                       d);
        return NULL;
    }
    /* JSON null is stored as a NULL pointer; QEMU never returns it. */
    if (!json_object_object_get_ex(msg, "return", &ret) || ret == NULL) {
        error_setg(errp, ERR_PROTOCOL, "%s: QMP reply without a return value",
                   command);
        jsock_break(q->sock);
        return NULL;
    }
    return json_object_get(ret);
}

json_object *
qmp_execute(struct qmp *q, const char *command, json_object *args,
            int timeout_ms, struct error **errp)
{
    int64_t deadline = sock_deadline(timeout_ms);
    CLEANUP_JSON_PUT json_object *req = NULL;
    struct error *err = NULL;
    json_object *msg, *ret;
    size_t size;
    int64_t id;

    if (jsock_usable(q->sock, errp) < 0) {
        return NULL;
    }
    if (args != NULL && !json_object_is_type(args, json_type_object)) {
        error_setg(errp, ERR_INVALID, "%s: arguments must be an object",
                   command);
        return NULL;
    }
    id = q->next_id++;
    req = xjson_object();
    xjson_add(req, "execute", xjson_string(command));
    if (args != NULL) {
        xjson_add(req, "arguments", json_object_get(args));
    }
    xjson_add(req, "id", xjson_int64(id));
    if (jsock_send(q->sock, req, false, deadline, errp) < 0) {
        error_prepend(errp, "%s: ", command);
        return NULL;
    }

    for (;;) {
        if (qmp_read_msg(q, deadline, &msg, &size, &err) < 0) {
            if (error_get_class(err) == ERR_TIMEOUT) {
                /* The reply may still come; the stream is past caring. */
                jsock_break(q->sock);
                error_free(err);
                error_setg(errp, ERR_TIMEOUT, "%s: no QMP reply within %d ms",
                           command, timeout_ms);
                return NULL;
            }
            error_prepend(&err, "%s: ", command);
            error_propagate(errp, err);
            return NULL;
        }
        switch (qmp_classify(msg)) {
        case QMP_KIND_EVENT:
            qmp_enqueue(q, msg, size);
            continue;
        case QMP_KIND_REPLY:
            if (!qmp_reply_has_id(msg, id)) {
                log_warnx("%s: dropping a QMP reply with another id",
                          command);
                json_object_put(msg);
                continue;
            }
            ret = qmp_reply_value(q, msg, command, errp);
            json_object_put(msg);
            return ret;
        default:
            json_object_put(msg);
            error_setg(errp, ERR_PROTOCOL, "%s: unexpected QMP message",
                       command);
            jsock_break(q->sock);
            return NULL;
        }
    }
}

static bool
qmp_event_matches(json_object *ev, const char *name,
                  bool (*match)(json_object *, void *), void *opaque)
{
    const char *evname = qmp_event_name(ev);

    return evname != NULL && (name == NULL || strcmp(evname, name) == 0) &&
           (match == NULL || match(ev, opaque));
}

/* Hand EV (ownership taken) to the caller of qmp_wait_event. */
static int
qmp_deliver(json_object *ev, json_object **ev_out)
{
    if (ev_out != NULL) {
        *ev_out = ev;
    } else {
        json_object_put(ev);
    }
    return 0;
}

int
qmp_wait_event(struct qmp *q, const char *name,
               bool (*match)(json_object *ev, void *opaque), void *opaque,
               int timeout_ms, json_object **ev_out, struct error **errp)
{
    int64_t deadline = sock_deadline(timeout_ms);
    struct error *err = NULL;
    json_object *msg;
    size_t size;
    int i;

    if (jsock_usable(q->sock, errp) < 0) {
        return -1;
    }
    for (i = 0; i < q->ev_count; i++) {
        msg = qmp_event_at(q, i)->ev;
        if (qmp_event_matches(msg, name, match, opaque)) {
            return qmp_deliver(qmp_dequeue_at(q, i), ev_out);
        }
    }
    for (;;) {
        if (qmp_read_msg(q, deadline, &msg, &size, &err) < 0) {
            if (error_get_class(err) == ERR_TIMEOUT) {
                error_free(err);
                error_setg(errp, ERR_TIMEOUT,
                           "no QMP event %s within %d ms",
                           name ? name : "of the kind awaited", timeout_ms);
                return -1;
            }
            error_prepend(&err, "waiting for QMP event %s: ",
                          name ? name : "of the kind awaited");
            error_propagate(errp, err);
            return -1;
        }
        switch (qmp_classify(msg)) {
        case QMP_KIND_EVENT:
            if (qmp_event_matches(msg, name, match, opaque)) {
                return qmp_deliver(msg, ev_out);
            }
            qmp_enqueue(q, msg, size);
            continue;
        case QMP_KIND_REPLY:
            log_warnx("dropping a QMP reply while no command is running");
            json_object_put(msg);
            continue;
        default:
            json_object_put(msg);
            error_setg(errp, ERR_PROTOCOL,
                       "waiting for QMP event %s: unexpected QMP message",
                       name ? name : "of the kind awaited");
            jsock_break(q->sock);
            return -1;
        }
    }
}

struct qmp *
qmp_new_fd(int fd, int timeout_ms, struct error **errp)
{
    int64_t deadline = sock_deadline(timeout_ms);
    struct error *err = NULL;
    struct qmp *q;
    json_object *msg = NULL, *ret;

    q = xcalloc(1, sizeof(*q));
    q->next_id = 1;
    q->sock = jsock_new(fd, "QMP", "qmp", QMP_MAX_MESSAGE, QMP_MAX_DEPTH, 0,
                        errp);
    if (q->sock == NULL) {
        qmp_close(q);
        return NULL;
    }

    if (qmp_read_msg(q, deadline, &msg, NULL, &err) < 0) {
        error_prepend(&err, "QMP greeting: ");
        goto fail;
    }
    if (qmp_classify(msg) != QMP_KIND_GREETING) {
        json_object_put(msg);
        error_setg(&err, ERR_PROTOCOL, "QMP greeting: unexpected message");
        goto fail;
    }
    q->greeting = msg;

    /* Leave capabilities negotiation mode; we ask for no optional
     * capability (no "oob").
     */
    ret = qmp_execute(q, "qmp_capabilities", NULL,
                      sock_remaining_ms(deadline), &err);
    if (ret == NULL) {
        goto fail;
    }
    json_object_put(ret);
    return q;

fail:
    error_propagate(errp, err);
    qmp_close(q);
    return NULL;
}

struct qmp *
qmp_connect(const char *sock_path, int timeout_ms, struct error **errp)
{
    int64_t deadline = sock_deadline(timeout_ms);
    struct error *err = NULL;
    struct qmp *q;
    int fd;

    fd = sock_connect_unix_wait(sock_path, timeout_ms, errp);
    if (fd < 0) {
        return NULL;
    }
    q = qmp_new_fd(fd, sock_remaining_ms(deadline), &err);
    if (q == NULL) {
        error_prepend(&err, "QMP at %s: ", sock_path);
        error_propagate(errp, err);
    }
    return q;
}

void
qmp_close(struct qmp *q)
{
    if (q == NULL) {
        return;
    }
    while (q->ev_count > 0) {
        json_object_put(qmp_dequeue_at(q, 0));
    }
    json_object_put(q->greeting);
    jsock_free(q->sock);
    free(q);
}

int
qmp_fd(const struct qmp *q)
{
    return jsock_fd(q->sock);
}

json_object *
qmp_greeting(const struct qmp *q)
{
    return q->greeting;
}

bool
qmp_is_broken(const struct qmp *q)
{
    return jsock_is_broken(q->sock);
}

int
qmp_queued_events(const struct qmp *q)
{
    return q->ev_count;
}
