/* vmsnap: QEMU guest agent client (see qga.h).
 *
 * Commands used, from qemu qga/qapi-schema.json: guest-sync-delimited,
 * guest-ping, guest-info, guest-fsfreeze-status, guest-fsfreeze-freeze,
 * guest-fsfreeze-thaw, guest-get-fsinfo, guest-exec, guest-exec-status.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "b64.h"
#include "cleanup.h"
#include "jsock.h"
#include "log.h"
#include "qga.h"
#include "sock.h"
#include "escape.h"
#include "xalloc.h"
#include "xjson.h"

/* guest-exec-status polling: first pause and longest pause. */
#define QGA_EXEC_POLL_FIRST_MS 20
#define QGA_EXEC_POLL_MAX_MS 200

struct qga {
    struct jsock *sock;   /* the agent chardev socket; 0xFF sentinels */
    int64_t next_sync_id; /* id of the next guest-sync-delimited */
    int exec_poll_first;  /* first pause between guest-exec-status, ms */
    int exec_poll_max;    /* longest pause between them, ms */
    bool needs_sync;      /* the channel must be resynchronised */
    bool sync_sent;       /* a guest-sync-delimited awaits its reply */
    int64_t sync_id;      /* the id it carries */
};

/* A starting sync id that differs between runs, so that replies meant for
 * an earlier client of the same channel are not taken for ours.
 */
static int64_t
qga_random_id(void)
{
    uint32_t v = 0;

    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
        v = (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16);
    }
    /* Leave room to count up without ever reaching INT64_MAX. */
    return (int64_t)(v & 0x3fffffff) + 1;
}

struct qga *
qga_new_fd(int fd, struct error **errp)
{
    struct qga *g;

    struct jsock *sock;

    sock = jsock_new(fd, "guest agent", "qga", QGA_MAX_MESSAGE, QGA_MAX_DEPTH,
                     JSTREAM_SENTINEL_FF, errp);
    if (sock == NULL) {
        return NULL;
    }
    g = xcalloc(1, sizeof(*g));
    g->sock = sock;
    g->needs_sync = true;
    g->next_sync_id = qga_random_id();
    g->exec_poll_first = QGA_EXEC_POLL_FIRST_MS;
    g->exec_poll_max = QGA_EXEC_POLL_MAX_MS;
    return g;
}

void
qga_close(struct qga *g)
{
    if (g == NULL) {
        return;
    }
    jsock_free(g->sock);
    free(g);
}

bool
qga_is_dead(const struct qga *g)
{
    return jsock_is_closed(g->sock);
}

int
qga_fd(const struct qga *g)
{
    return jsock_fd(g->sock);
}

void
qga_set_next_sync_id(struct qga *g, int64_t id)
{
    g->next_sync_id = id;
}

void
qga_set_exec_poll(struct qga *g, int first_ms, int max_ms)
{
    g->exec_poll_first = first_ms > 0 ? first_ms : 0;
    g->exec_poll_max = max_ms > g->exec_poll_first ? max_ms
                                                   : g->exec_poll_first;
}

/* Send MSG (borrowed) before DEADLINE, preceded by the sentinel byte when
 * SENTINEL is true.  A failure leaves part of a request in the channel,
 * so the next command must resync.
 */
static int
qga_send(struct qga *g, json_object *msg, bool sentinel, int64_t deadline,
         struct error **errp)
{
    if (jsock_send(g->sock, msg, sentinel, deadline, errp) < 0) {
        g->needs_sync = true;
        return -1;
    }
    return 0;
}

/* True when MSG is {"return": ID}, the reply to our guest-sync-delimited. */
static bool
qga_is_sync_reply(json_object *msg, int64_t id)
{
    json_object *v;

    return json_object_object_get_ex(msg, "return", &v) &&
           json_object_is_type(v, json_type_int) &&
           json_object_get_int64(v) == id;
}

/* Send a guest-sync-delimited with a new id (qga_sync_until reads its
 * reply), preceded by the sentinel that makes the agent drop any partial
 * input.
 */
static int
qga_sync_send(struct qga *g, int64_t deadline, struct error **errp)
{
    CLEANUP_JSON_PUT json_object *req = NULL;
    json_object *args;

    g->needs_sync = true;
    g->sync_id = g->next_sync_id++;
    req = xjson_object();
    args = xjson_object();
    xjson_add(args, "id", xjson_int64(g->sync_id));
    xjson_add(req, "execute", xjson_string("guest-sync-delimited"));
    xjson_add(req, "arguments", args);

    /* Whatever we hold or receive before the agent's sentinel belongs to
     * earlier requests.
     */
    jsock_skip_to_sentinel(g->sock);
    if (qga_send(g, req, true, deadline, errp) < 0) {
        return -1;
    }
    g->sync_sent = true;
    return 0;
}

/* Synchronise: send a guest-sync-delimited unless one already awaits its
 * reply (qga_connect_start), and read up to that reply.
 */
static int
qga_sync_until(struct qga *g, int64_t deadline, struct error **errp)
{
    json_object *msg = NULL;
    struct error *err = NULL;
    enum jstream_result r;

    if (jsock_usable(g->sock, errp) < 0) {
        return -1;
    }
    g->needs_sync = true;
    if (!g->sync_sent && qga_sync_send(g, deadline, &err) < 0) {
        goto fail;
    }
    for (;;) {
        r = jsock_read(g->sock, deadline, &msg, NULL, &err);
        if (r == JSTREAM_ERROR) {
            if (error_get_class(err) == ERR_PROTOCOL &&
                !jsock_is_closed(g->sock)) {
                /* Garbage left over in the channel: skip to the next
                 * sentinel; the deadline bounds how long we try.
                 */
                log_debug("qga", "skipping bad input: %s", error_msg(err));
                error_free(err);
                err = NULL;
                jsock_skip_to_sentinel(g->sock);
                continue;
            }
            goto fail;
        }
        if (r == JSTREAM_SENTINEL) {
            continue;
        }
        if (qga_is_sync_reply(msg, g->sync_id)) {
            json_object_put(msg);
            g->sync_sent = false;
            g->needs_sync = false;
            return 0;
        }
        log_debug("qga", "skipping a stale reply while synchronising");
        json_object_put(msg);
    }

fail:
    /* The next try sends a new id: a late reply to this one is stale. */
    g->sync_sent = false;
    if (error_get_class(err) == ERR_TIMEOUT) {
        error_free(err);
        error_setg(errp, ERR_TIMEOUT,
                   "guest-sync-delimited: no reply from the guest agent");
        return -1;
    }
    error_prepend(&err, "guest-sync-delimited: ");
    error_propagate(errp, err);
    return -1;
}

int
qga_sync(struct qga *g, int timeout_ms, struct error **errp)
{
    return qga_sync_until(g, sock_deadline(timeout_ms), errp);
}

/* Turn the reply MSG (borrowed) to COMMAND into its "return" value (a new
 * reference) or an error.
 */
static json_object *
qga_reply_value(struct qga *g, json_object *msg, const char *command,
                struct error **errp)
{
    json_object *ret, *error, *cls = NULL, *desc = NULL;
    CLEANUP_FREE char *d = NULL;

    if (json_object_object_get_ex(msg, "error", &error)) {
        if (json_object_is_type(error, json_type_object) &&
            json_object_object_get_ex(error, "class", &cls) &&
            json_object_is_type(cls, json_type_string) &&
            json_object_object_get_ex(error, "desc", &desc) &&
            json_object_is_type(desc, json_type_string)) {
            /* The peer's text, made safe to print (text.h). */
            d = escape_safe(json_object_get_string(desc));
            error_set_peer(errp, json_object_get_string(cls), "%s: %s",
                           command, d);
            return NULL;
        }
    } else if (json_object_object_get_ex(msg, "return", &ret) &&
               ret != NULL) {
        return json_object_get(ret);
    }
    g->needs_sync = true;
    error_setg(errp, ERR_PROTOCOL, "%s: malformed guest agent reply", command);
    return NULL;
}

/* Before a request, take in whatever the agent has already sent.  In a
 * synchronised channel that is nothing (or a stray newline); anything
 * else is a reply nobody waits for, which the request would otherwise
 * take for its own, so the channel is resynchronised first.  Does not
 * block.
 */
static void
qga_check_idle(struct qga *g)
{
    if (g->needs_sync) {
        return;
    }
    /* At end of file the request below fails at once. */
    if (jsock_pending(g->sock)) {
        log_debug("qga", "unexpected data from the agent: resynchronising");
        g->needs_sync = true;
    }
}

static json_object *
qga_execute_until(struct qga *g, const char *command, json_object *args,
                  int64_t deadline, struct error **errp)
{
    CLEANUP_JSON_PUT json_object *req = NULL;
    CLEANUP_JSON_PUT json_object *msg = NULL;
    struct error *err = NULL;
    enum jstream_result r;

    if (jsock_usable(g->sock, errp) < 0) {
        return NULL;
    }
    if (args != NULL && !json_object_is_type(args, json_type_object)) {
        error_setg(errp, ERR_INVALID, "%s: arguments must be an object",
                   command);
        return NULL;
    }
    qga_check_idle(g);
    if (jsock_usable(g->sock, errp) < 0) {
        return NULL;
    }
    if (g->needs_sync && qga_sync_until(g, deadline, errp) < 0) {
        return NULL;
    }
    req = xjson_object();
    xjson_add(req, "execute", xjson_string(command));
    if (args != NULL) {
        xjson_add(req, "arguments", json_object_get(args));
    }
    if (qga_send(g, req, false, deadline, &err) < 0) {
        goto fail;
    }
    r = jsock_read(g->sock, deadline, &msg, NULL, &err);
    if (r == JSTREAM_MESSAGE) {
        return qga_reply_value(g, msg, command, errp);
    }
    if (r == JSTREAM_SENTINEL) {
        error_setg(&err, ERR_PROTOCOL, "unexpected sync sentinel");
    }

fail:
    /* A reply may still come, or half of one may be buffered. */
    g->needs_sync = true;
    if (error_get_class(err) == ERR_TIMEOUT) {
        error_free(err);
        error_setg(errp, ERR_TIMEOUT, "%s: no reply from the guest agent",
                   command);
        return NULL;
    }
    error_prepend(&err, "%s: ", command);
    error_propagate(errp, err);
    return NULL;
}

json_object *
qga_execute(struct qga *g, const char *command, json_object *args,
            int timeout_ms, struct error **errp)
{
    return qga_execute_until(g, command, args, sock_deadline(timeout_ms),
                             errp);
}

struct qga *
qga_connect_start(const char *sock_path, int timeout_ms, struct error **errp)
{
    struct error *err = NULL;
    struct qga *g;
    int fd;

    fd = sock_connect_unix_wait(sock_path, timeout_ms, errp);
    if (fd < 0) {
        return NULL;
    }
    g = qga_new_fd(fd, errp);
    if (g == NULL) {
        return NULL;
    }
    if (qga_sync_send(g, sock_deadline(timeout_ms), &err) < 0) {
        error_prepend(&err, "guest agent at %s: guest-sync-delimited: ",
                      sock_path);
        error_propagate(errp, err);
        qga_close(g);
        return NULL;
    }
    return g;
}

struct qga *
qga_connect(const char *sock_path, int timeout_ms, struct error **errp)
{
    int64_t deadline = sock_deadline(timeout_ms);
    struct error *err = NULL;
    struct qga *g;

    g = qga_connect_start(sock_path, timeout_ms, errp);
    if (g == NULL) {
        return NULL;
    }
    if (qga_sync_until(g, deadline, &err) < 0) {
        error_prepend(&err, "guest agent at %s: ", sock_path);
        error_propagate(errp, err);
        qga_close(g);
        return NULL;
    }
    return g;
}

/* Typed wrappers. */

int
qga_ping(struct qga *g, int timeout_ms, struct error **errp)
{
    json_object *ret = qga_execute(g, "guest-ping", NULL, timeout_ms, errp);

    if (ret == NULL) {
        return -1;
    }
    json_object_put(ret);
    return 0;
}

/* Run COMMAND and check that its return value has type TYPE.  Returns a
 * new reference, or NULL.
 */
static json_object *
qga_execute_typed(struct qga *g, const char *command, json_object *args,
                  enum json_type type, int64_t deadline, struct error **errp)
{
    json_object *ret = qga_execute_until(g, command, args, deadline, errp);

    if (ret != NULL && !json_object_is_type(ret, type)) {
        json_object_put(ret);
        error_setg(errp, ERR_PROTOCOL, "%s: unexpected type of return value",
                   command);
        return NULL;
    }
    return ret;
}

json_object *
qga_info(struct qga *g, int timeout_ms, struct error **errp)
{
    return qga_execute_typed(g, "guest-info", NULL, json_type_object,
                             sock_deadline(timeout_ms), errp);
}

json_object *
qga_get_fsinfo(struct qga *g, int timeout_ms, struct error **errp)
{
    return qga_execute_typed(g, "guest-get-fsinfo", NULL, json_type_array,
                             sock_deadline(timeout_ms), errp);
}

int
qga_fsfreeze_status(struct qga *g, int timeout_ms, struct error **errp)
{
    CLEANUP_JSON_PUT json_object *ret = NULL;
    const char *s;

    ret = qga_execute_typed(g, "guest-fsfreeze-status", NULL,
                            json_type_string, sock_deadline(timeout_ms),
                            errp);
    if (ret == NULL) {
        return -1;
    }
    s = json_object_get_string(ret);
    if (strcmp(s, "thawed") == 0) {
        return QGA_THAWED;
    }
    if (strcmp(s, "frozen") == 0) {
        return QGA_FROZEN;
    }
    error_setg(errp, ERR_PROTOCOL, "guest-fsfreeze-status: unknown state");
    return -1;
}

/* Run COMMAND, whose return value is a count of filesystems. */
static int
qga_execute_count(struct qga *g, const char *command, int timeout_ms,
                  struct error **errp)
{
    CLEANUP_JSON_PUT json_object *ret = NULL;
    int64_t n;

    ret = qga_execute_typed(g, command, NULL, json_type_int,
                            sock_deadline(timeout_ms), errp);
    if (ret == NULL) {
        return -1;
    }
    n = json_object_get_int64(ret);
    if (n < 0 || n > INT_MAX) {
        error_setg(errp, ERR_PROTOCOL, "%s: count out of range", command);
        return -1;
    }
    return (int)n;
}

int
qga_fsfreeze_freeze(struct qga *g, int timeout_ms, struct error **errp)
{
    return qga_execute_count(g, "guest-fsfreeze-freeze", timeout_ms, errp);
}

int
qga_fsfreeze_thaw(struct qga *g, int timeout_ms, struct error **errp)
{
    return qga_execute_count(g, "guest-fsfreeze-thaw", timeout_ms, errp);
}

/* guest-exec and its base64 payloads. */

/* Encode LEN bytes of SRC as padded base64, as qemu-ga expects.  Returns
 * a NUL-terminated string the caller frees.
 */
static char *
qga_b64_encode(const char *src, size_t len)
{
    char *dst = xmalloc(b64_encoded_len(len, B64_PAD) + 1);

    b64_encode(src, len, dst, B64_PAD);
    return dst;
}

/* Decode the base64 text SRC of LEN bytes.  qemu-ga pads (GLib's
 * encoder does), but a peer that does not is read too: the padding is
 * required exactly when the length is a multiple of four.  On success
 * stores a NUL-terminated buffer the caller frees in *OUT and its length
 * (without the NUL) in *OUTLEN and returns 0; returns -1 on bad input.
 */
static int
qga_b64_decode(const char *src, size_t len, char **out, size_t *outlen)
{
    char *dst = xmalloc(len / 4 * 3 + 4);
    long n = b64_decode(src, len, dst, len % 4 == 0 ? B64_PAD : 0, NULL);

    if (n < 0) {
        free(dst);
        return -1;
    }
    dst[n] = '\0';
    *out = dst;
    *outlen = (size_t)n;
    return 0;
}

void
qga_exec_result_clear(struct qga_exec_result *res)
{
    if (res == NULL) {
        return;
    }
    free(res->out);
    free(res->err);
    memset(res, 0, sizeof(*res));
}

/* Build the arguments of guest-exec.  Returns a new object or NULL. */
static json_object *
qga_exec_args(const char *path, const char *const *argv, const char *input,
              struct error **errp)
{
    CLEANUP_JSON_PUT json_object *args = xjson_object();
    CLEANUP_FREE char *b64 = NULL;
    json_object *arr;
    size_t i, inlen;

    xjson_add(args, "path", xjson_string(path));
    if (argv != NULL) {
        arr = xjson_array();
        xjson_add(args, "arg", arr);
        for (i = 0; argv[i] != NULL; i++) {
            xjson_append(arr, xjson_string(argv[i]));
        }
    }
    if (input != NULL) {
        inlen = strlen(input);
        if (inlen > QGA_EXEC_MAX_INPUT) {
            error_setg(errp, ERR_INVALID, "guest-exec: input too large");
            return NULL;
        }
        b64 = qga_b64_encode(input, inlen);
        xjson_add(args, "input-data", xjson_string(b64));
    }
    xjson_add(args, "capture-output", xjson_bool(true));
    return steal_pointer(&args);
}

/* Decode the optional base64 member KEY of STATUS into *BUF and *LEN;
 * an absent member gives an empty string.
 */
static int
qga_exec_data(json_object *status, const char *key, char **buf, size_t *len,
              struct error **errp)
{
    json_object *v;

    if (!json_object_object_get_ex(status, key, &v)) {
        v = NULL;
    } else if (!json_object_is_type(v, json_type_string)) {
        error_setg(errp, ERR_PROTOCOL, "guest-exec-status: bad %s", key);
        return -1;
    }
    if (qga_b64_decode(v ? json_object_get_string(v) : "",
                       v ? (size_t)json_object_get_string_len(v) : 0, buf,
                       len) < 0) {
        error_setg(errp, ERR_PROTOCOL, "guest-exec-status: bad base64 in %s",
                   key);
        return -1;
    }
    return 0;
}

/* Read an optional integer member KEY of OBJ into *OUT (DEF if absent). */
static int
qga_opt_int(json_object *obj, const char *key, int def, int *out,
            struct error **errp)
{
    json_object *v;
    int64_t n;

    *out = def;
    if (!json_object_object_get_ex(obj, key, &v)) {
        return 0;
    }
    if (!json_object_is_type(v, json_type_int)) {
        error_setg(errp, ERR_PROTOCOL, "guest agent: bad %s", key);
        return -1;
    }
    n = json_object_get_int64(v);
    if (n < INT_MIN || n > INT_MAX) {
        error_setg(errp, ERR_PROTOCOL, "guest agent: %s out of range", key);
        return -1;
    }
    *out = (int)n;
    return 0;
}

static bool
qga_opt_bool(json_object *obj, const char *key)
{
    json_object *v;

    return json_object_object_get_ex(obj, key, &v) &&
           json_object_is_type(v, json_type_boolean) &&
           json_object_get_boolean(v);
}

/* Fill RES from a guest-exec-status reply of an exited process. */
static int
qga_exec_fill(json_object *status, struct qga_exec_result *res,
              struct error **errp)
{
    if (qga_opt_int(status, "exitcode", -1, &res->exitcode, errp) < 0 ||
        qga_opt_int(status, "signal", 0, &res->signal, errp) < 0 ||
        qga_exec_data(status, "out-data", &res->out, &res->out_len, errp) <
            0 ||
        qga_exec_data(status, "err-data", &res->err, &res->err_len, errp) <
            0) {
        qga_exec_result_clear(res);
        return -1;
    }
    res->out_truncated = qga_opt_bool(status, "out-truncated");
    res->err_truncated = qga_opt_bool(status, "err-truncated");
    return 0;
}

int
qga_exec(struct qga *g, const char *path, const char *const *argv,
         const char *input, int timeout_ms, struct qga_exec_result *res,
         struct error **errp)
{
    int64_t deadline = sock_deadline(timeout_ms);
    CLEANUP_JSON_PUT json_object *args = NULL;
    CLEANUP_JSON_PUT json_object *ret = NULL;
    CLEANUP_JSON_PUT json_object *sargs = NULL;
    json_object *status, *v;
    int pid, delay = g->exec_poll_first;

    memset(res, 0, sizeof(*res));
    args = qga_exec_args(path, argv, input, errp);
    if (args == NULL) {
        return -1;
    }
    ret = qga_execute_typed(g, "guest-exec", args, json_type_object, deadline,
                            errp);
    if (ret == NULL) {
        return -1;
    }
    if (!json_object_object_get_ex(ret, "pid", &v) ||
        !json_object_is_type(v, json_type_int) ||
        qga_opt_int(ret, "pid", 0, &pid, NULL) < 0) {
        error_setg(errp, ERR_PROTOCOL, "guest-exec: reply without a pid");
        return -1;
    }
    sargs = xjson_object();
    xjson_add(sargs, "pid", xjson_int64(pid));

    for (;;) {
        status = qga_execute_typed(g, "guest-exec-status", sargs,
                                   json_type_object, deadline, errp);
        if (status == NULL) {
            return -1;
        }
        if (qga_opt_bool(status, "exited")) {
            if (qga_exec_fill(status, res, errp) < 0) {
                json_object_put(status);
                return -1;
            }
            json_object_put(status);
            return 0;
        }
        json_object_put(status);
        sock_sleep_ms(delay, deadline);
        if (sock_remaining_ms(deadline) == 0) {
            error_setg(errp, ERR_TIMEOUT,
                       "guest-exec: %s (pid %d) still running after %d ms",
                       path, pid, timeout_ms);
            return -1;
        }
        delay = delay * 3 / 2;
        if (delay > g->exec_poll_max) {
            delay = g->exec_poll_max;
        }
    }
}
