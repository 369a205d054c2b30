/* Protocol tests of the QMP client against scripted fake monitors. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fakepeer.h"
#include "qmp.h"
#include "sock.h"
#include "tap.h"

/* What QEMU 7.2 sends, byte for byte (it ends lines with \r\n). */
#define GREETING                                                               \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, "         \
    "\"major\": 7}, \"package\": \"Debian 1:7.2+dfsg-7+deb12u7\"}, "           \
    "\"capabilities\": [\"oob\"]}}\r\n"
#define CAPS_CMD "{\"execute\":\"qmp_capabilities\",\"id\":1}\n"
#define CAPS_OK "{\"return\": {}, \"id\": 1}\r\n"
#define HANDSHAKE FP_SEND(GREETING), FP_EXPECT(CAPS_CMD), FP_SEND(CAPS_OK)

#define STATUS_CMD "{\"execute\":\"query-status\",\"id\":2}\n"
#define STATUS_OK                                                              \
    "{\"return\": {\"status\": \"running\", \"singlestep\": false, "           \
    "\"running\": true}, \"id\": 2}\r\n"

#define TIMEOUT 3000

/* Run the handshake over a new fake peer playing STEPS. */
static struct qmp *
connect_peer(const struct fp_step *steps, struct fakepeer **fp,
             struct error **errp)
{
    int fd;

    *fp = fakepeer_start(steps, &fd);
    return qmp_new_fd(fd, TIMEOUT, errp);
}

/* The "status" member of a query-status return value, or "". */
static const char *
status_of(json_object *ret)
{
    json_object *v;

    if (ret != NULL && json_object_object_get_ex(ret, "status", &v)) {
        return json_object_get_string(v);
    }
    return "";
}

static bool
err_is(struct error *err, enum error_class cls, const char *sub)
{
    if (err == NULL) {
        diag("no error");
        return false;
    }
    if (error_get_class(err) != cls ||
        (sub != NULL && strstr(error_msg(err), sub) == NULL)) {
        diag("error class %d: %s", error_get_class(err), error_msg(err));
        return false;
    }
    return true;
}

static void
test_normal(void)
{
    static const struct fp_step steps[] = {
        HANDSHAKE,
        FP_EXPECT(STATUS_CMD),
        FP_SEND(STATUS_OK),
        FP_EXPECT("{\"execute\":\"human-monitor-command\",\"arguments\":"
                  "{\"command-line\":\"info version\"},\"id\":3}\n"),
        FP_SEND("{\"return\": \"7.2.0\\r\\n\", \"id\": 3}\r\n"),
        FP_END,
    };
    struct error *err = NULL;
    struct fakepeer *fp;
    struct qmp *q = connect_peer(steps, &fp, &err);
    json_object *ret, *args, *v;

    ok(q != NULL, "handshake");
    ok(q && json_object_object_get_ex(qmp_greeting(q), "QMP", &v) &&
           json_object_is_type(v, json_type_object),
       "greeting kept");
    ret = qmp_execute(q, "query-status", NULL, TIMEOUT, &err);
    ok(strcmp(status_of(ret), "running") == 0, "query-status returns");
    json_object_put(ret);

    args = json_object_new_object();
    json_object_object_add(args, "command-line",
                           json_object_new_string("info version"));
    ret = qmp_execute(q, "human-monitor-command", args, TIMEOUT, &err);
    ok(ret && strcmp(json_object_get_string(ret), "7.2.0\r\n") == 0,
       "arguments sent, string returned");
    ok(json_object_put(args) == 1, "arguments stay the caller's");
    json_object_put(ret);
    ok(err == NULL && qmp_fd(q) >= 0 && !qmp_is_broken(q), "no error");
    qmp_close(q);
    ok(fakepeer_finish(fp), "normal: bytes sent as expected");
}

static void
test_split_reply(void)
{
    static const struct fp_step steps[] = {
        FP_SPLIT(GREETING, 7, 1),
        FP_EXPECT(CAPS_CMD),
        FP_SPLIT(CAPS_OK, 1, 1),
        FP_EXPECT(STATUS_CMD),
        /* QEMU's pretty=on output, a byte at a time. */
        FP_SPLIT("{\n    \"return\": {\n        \"status\": \"paused\",\n"
                 "        \"singlestep\": false,\n        \"running\": "
                 "false\n    },\n    \"id\": 2\n}\n",
                 1, 1),
        FP_END,
    };
    struct error *err = NULL;
    struct fakepeer *fp;
    struct qmp *q = connect_peer(steps, &fp, &err);
    json_object *ret;

    ok(q != NULL, "handshake from split greeting");
    ret = qmp_execute(q, "query-status", NULL, TIMEOUT, &err);
    ok(strcmp(status_of(ret), "paused") == 0,
       "pretty reply split across many reads");
    json_object_put(ret);
    error_free(err);
    qmp_close(q);
    ok(fakepeer_finish(fp), "split: peer script");
}

static bool
match_status(json_object *ev, void *opaque)
{
    json_object *data, *st;

    return json_object_object_get_ex(ev, "data", &data) &&
           json_object_object_get_ex(data, "status", &st) &&
           strcmp(json_object_get_string(st), opaque) == 0;
}

#define EV_JOB(st)                                                             \
    "{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 1}, "        \
    "\"event\": \"JOB_STATUS_CHANGE\", \"data\": {\"status\": \"" st           \
    "\", \"id\": \"backup0\"}}\r\n"

static void
test_events(void)
{
    static const struct fp_step steps[] = {
        HANDSHAKE,
        FP_EXPECT(STATUS_CMD),
        FP_SEND(EV_JOB("created") EV_JOB("running")),
        FP_SEND("{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": "
                "2}, \"event\": \"STOP\"}\r\n"),
        FP_SEND(STATUS_OK),
        FP_PAUSE(50),
        FP_SEND(EV_JOB("concluded")),
        FP_PAUSE(50),
        FP_EXPECT("{\"execute\":\"query-status\",\"id\":3}\n"),
        FP_SEND("{\"return\": {\"status\": \"running\"}, \"id\": 3}\r\n"),
        FP_END,
    };
    struct error *err = NULL;
    struct fakepeer *fp;
    struct qmp *q = connect_peer(steps, &fp, &err);
    json_object *ret, *ev = NULL;
    int64_t t0;
    int r;

    ret = qmp_execute(q, "query-status", NULL, TIMEOUT, &err);
    ok(strcmp(status_of(ret), "running") == 0, "reply after events");
    json_object_put(ret);
    ok(qmp_queued_events(q) == 3, "three events queued");

    r = qmp_wait_event(q, "JOB_STATUS_CHANGE", match_status, "running",
                       TIMEOUT, &ev, &err);
    ok(r == 0 && match_status(ev, "running"),
       "queued event found by predicate");
    json_object_put(ev);
    ev = NULL;
    r = qmp_wait_event(q, "STOP", NULL, NULL, TIMEOUT, NULL, &err);
    ok(r == 0 && qmp_queued_events(q) == 1, "queued event by name");

    r = qmp_wait_event(q, "JOB_STATUS_CHANGE", match_status, "concluded",
                       TIMEOUT, &ev, &err);
    ok(r == 0 && match_status(ev, "concluded") &&
           qmp_queued_events(q) == 1,
       "incoming event; the unmatched one stays queued");
    json_object_put(ev);

    t0 = sock_now_ms();
    r = qmp_wait_event(q, "BLOCK_JOB_COMPLETED", NULL, NULL, 30, &ev, &err);
    ok(r == -1 && err_is(err, ERR_TIMEOUT, "BLOCK_JOB_COMPLETED") &&
           sock_now_ms() - t0 < 1000,
       "event wait times out");
    error_free(err);
    err = NULL;
    ok(!qmp_is_broken(q), "an event timeout keeps the connection");
    ret = qmp_execute(q, "query-status", NULL, TIMEOUT, &err);
    ok(strcmp(status_of(ret), "running") == 0, "command after event timeout");
    json_object_put(ret);
    r = qmp_wait_event(q, "JOB_STATUS_CHANGE", NULL, NULL, 0, &ev, &err);
    ok(r == 0 && match_status(ev, "created") && qmp_queued_events(q) == 0,
       "remaining queued event, zero timeout");
    json_object_put(ev);
    qmp_close(q);
    ok(fakepeer_finish(fp), "events: peer script");
}

/* Fill STEPS (7 entries) with a script that sends the LEN bytes of
 * EVENTS between the query-status request and its reply.
 */
static void
events_script(struct fp_step *steps, const char *events, size_t len)
{
    const struct fp_step s[] = {
        HANDSHAKE,
        FP_EXPECT(STATUS_CMD),
        FP_BUF(events, len),
        FP_SEND(STATUS_OK),
        FP_END,
    };

    memcpy(steps, s, sizeof(s));
}

/* Take the oldest queued event NAME and return its data member N, or -1. */
static int
oldest_event_n(struct qmp *q, const char *name)
{
    struct error *err = NULL;
    json_object *ev = NULL, *data, *n;
    int v = -1;

    qmp_wait_event(q, name, NULL, NULL, 0, &ev, &err);
    if (ev != NULL && json_object_object_get_ex(ev, "data", &data) &&
        json_object_object_get_ex(data, "n", &n)) {
        v = json_object_get_int(n);
    }
    json_object_put(ev);
    error_free(err);
    return v;
}

static void
test_event_overflow(void)
{
    const int nev = QMP_MAX_EVENTS + 5;
    char *buf = malloc((size_t)nev * 64 + 64);
    size_t len = 0;
    int i;
    struct fp_step steps[7];
    struct error *err = NULL;
    struct fakepeer *fp;
    struct qmp *q;
    json_object *ret;

    for (i = 0; i < nev; i++) {
        len += (size_t)snprintf(buf + len, 64,
                                "{\"event\": \"TICK\", \"data\": {\"n\": %d}}",
                                i);
    }
    events_script(steps, buf, len);
    q = connect_peer(steps, &fp, &err);
    ret = qmp_execute(q, "query-status", NULL, TIMEOUT, &err);
    ok(ret != NULL && qmp_queued_events(q) == QMP_MAX_EVENTS,
       "event queue bounded at %d", QMP_MAX_EVENTS);
    json_object_put(ret);
    ok(oldest_event_n(q, "TICK") == 5, "oldest events dropped");
    qmp_close(q);
    ok(fakepeer_finish(fp), "overflow: peer script");
    free(buf);
}

/* Events of 1 MiB each: the queue keeps as many as QMP_MAX_EVENT_BYTES
 * holds, however few that is in count (audit L12).
 */
static void
test_event_bytes(void)
{
    const size_t evsize = 1024 * 1024;
    const int keep = QMP_MAX_EVENT_BYTES / (1024 * 1024);
    const int nev = keep + 4;
    char *buf = malloc((size_t)nev * evsize);
    struct fp_step steps[7];
    struct error *err = NULL;
    struct fakepeer *fp;
    struct qmp *q;
    json_object *ret;
    int i;

    for (i = 0; i < nev; i++) {
        char *e = buf + (size_t)i * evsize;
        int head = snprintf(e, 64, "{\"event\": \"BIG\", \"data\": "
                            "{\"n\": %d, \"s\": \"", i);

        /* The last byte is a newline: each message is evsize - 1. */
        memset(e + head, 'x', evsize - (size_t)head - 4);
        memcpy(e + evsize - 4, "\"}}\n", 4);
    }
    events_script(steps, buf, (size_t)nev * evsize);
    q = connect_peer(steps, &fp, &err);
    ret = qmp_execute(q, "query-status", NULL, TIMEOUT, &err);
    ok(ret != NULL && qmp_queued_events(q) == keep,
       "event queue bounded by bytes: %d of %d events kept",
       qmp_queued_events(q), nev);
    json_object_put(ret);
    ok(oldest_event_n(q, "BIG") == nev - keep,
       "the oldest events were dropped");
    ok(qmp_queued_events(q) == keep - 1, "one taken out");
    qmp_close(q);
    ok(fakepeer_finish(fp), "event bytes: peer script");
    free(buf);
}

static void
test_error_reply(void)
{
    static const struct fp_step steps[] = {
        HANDSHAKE,
        FP_EXPECT("{\"execute\":\"foo\",\"id\":2}\n"),
        FP_SEND("{\"id\": 2, \"error\": {\"class\": \"CommandNotFound\", "
                "\"desc\": \"The command foo has not been found\"}}\r\n"),
        FP_EXPECT("{\"execute\":\"query-status\",\"id\":3}\n"),
        FP_SEND("{\"return\": {\"status\": \"running\"}, \"id\": 3}\r\n"),
        FP_EXPECT("{\"execute\":\"baz\",\"id\":4}\n"),
        FP_SEND("{\"id\": 4, \"error\": {\"class\": \"GenericError\", "
                "\"desc\": \"x\\rvmsnap: ok \\u009b2J\"}}\r\n"),
        FP_EXPECT("{\"execute\":\"bar\",\"id\":5}\n"),
        FP_SEND("{\"id\": 5, \"error\": {\"class\": \"GenericError\"}}\r\n"),
        FP_END,
    };
    struct error *err = NULL;
    struct fakepeer *fp;
    struct qmp *q = connect_peer(steps, &fp, &err);
    json_object *ret;

    ret = qmp_execute(q, "foo", NULL, TIMEOUT, &err);
    ok(ret == NULL && err_is(err, ERR_PEER, NULL) &&
           strcmp(error_peer_class(err), "CommandNotFound") == 0 &&
           strcmp(error_msg(err),
                  "foo: The command foo has not been found") == 0,
       "error reply carries class and desc");
    error_free(err);
    err = NULL;
    ret = qmp_execute(q, "query-status", NULL, TIMEOUT, &err);
    ok(strcmp(status_of(ret), "running") == 0,
       "connection usable after an error reply");
    json_object_put(ret);
    ret = qmp_execute(q, "baz", NULL, TIMEOUT, &err);
    ok(ret == NULL && err_is(err, ERR_PEER, NULL) &&
           strcmp(error_msg(err), "baz: x\\rvmsnap: ok \\xc2\\x9b2J") == 0,
       "QEMU's text is escaped: %s", error_msg(err));
    error_free(err);
    err = NULL;
    ret = qmp_execute(q, "bar", NULL, TIMEOUT, &err);
    ok(ret == NULL && err_is(err, ERR_PROTOCOL, "malformed") &&
           qmp_is_broken(q),
       "error reply without desc is a protocol error");
    error_free(err);
    qmp_close(q);
    ok(fakepeer_finish(fp), "error reply: peer script");
}

/* One client run against a peer that misbehaves after the handshake:
 * STEPS follow HANDSHAKE + STATUS_CMD; query-status must fail with CLS and
 * a message containing SUB, leave the connection broken, and a second call
 * must fail fast.
 */
static void
bad_reply_case(const char *name, const struct fp_step *tail, size_t ntail,
               enum error_class cls, const char *sub, int timeout_ms)
{
    struct fp_step steps[16] = {
        HANDSHAKE,
        FP_EXPECT(STATUS_CMD),
    };
    struct error *err = NULL;
    struct fakepeer *fp;
    struct qmp *q;
    json_object *ret;
    int64_t t0, dt;

    memcpy(steps + 4, tail, ntail * sizeof(*tail));
    q = connect_peer(steps, &fp, &err);
    ok(q != NULL, "%s: handshake", name);
    t0 = sock_now_ms();
    ret = qmp_execute(q, "query-status", NULL, timeout_ms, &err);
    dt = sock_now_ms() - t0;
    ok(ret == NULL && err_is(err, cls, sub), "%s: fails cleanly", name);
    if (cls == ERR_TIMEOUT) {
        ok(dt >= timeout_ms && dt < timeout_ms + 1000,
           "%s: within the deadline (%lld ms)", name, (long long)dt);
    }
    error_free(err);
    err = NULL;
    ok(qmp_is_broken(q), "%s: connection marked broken", name);
    t0 = sock_now_ms();
    ret = qmp_execute(q, "query-status", NULL, timeout_ms, &err);
    ok(ret == NULL && err_is(err, ERR_PROTOCOL, "broken") &&
           sock_now_ms() - t0 < 100,
       "%s: later calls fail fast", name);
    error_free(err);
    qmp_close(q);
    ok(fakepeer_finish(fp), "%s: peer script", name);
}

static void
test_bad_replies(void)
{
    static const struct fp_step garbage[] = {
        FP_SEND("Ceci n'est pas du JSON\r\n"), FP_END
    };
    static const struct fp_step bad_json[] = {
        FP_SEND("{\"return\": {\"status\": runn}, \"id\": 2}\r\n"), FP_END
    };
    static const struct fp_step array[] = {
        FP_SEND("[{\"return\": {}, \"id\": 2}]\r\n"), FP_END
    };
    static const struct fp_step eof_mid[] = {
        FP_SEND("{\"return\": {\"sta"), FP_HANGUP, FP_END
    };
    static const struct fp_step eof[] = { FP_HANGUP, FP_END };
    static const struct fp_step no_return[] = {
        FP_SEND("{\"id\": 2, \"status\": \"running\"}\r\n"), FP_END
    };
    static const struct fp_step null_return[] = {
        FP_SEND("{\"return\": null, \"id\": 2}\r\n"), FP_END
    };
    static const struct fp_step bad_event[] = {
        FP_SEND("{\"event\": 42}\r\n"), FP_END
    };
    static const struct fp_step silent[] = { FP_END };
    static const struct fp_step deep[] = {
        FP_SEND("{\"return\": "
                "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["),
        FP_END
    };
    static const struct fp_step nul[] = {
        FP_SEND("{\"return\": {}, \"id\"\0: 2}\r\n"), FP_END
    };

    bad_reply_case("garbage", garbage, 2, ERR_PROTOCOL, "malformed", TIMEOUT);
    bad_reply_case("bad JSON", bad_json, 2, ERR_PROTOCOL, "malformed",
                   TIMEOUT);
    bad_reply_case("top-level array", array, 2, ERR_PROTOCOL, "malformed",
                   TIMEOUT);
    bad_reply_case("EOF mid-message", eof_mid, 3, ERR_PROTOCOL,
                   "closed in the middle of a message", TIMEOUT);
    bad_reply_case("EOF", eof, 2, ERR_PROTOCOL, "QMP connection closed",
                   TIMEOUT);
    bad_reply_case("reply without return", no_return, 2, ERR_PROTOCOL,
                   "unexpected", TIMEOUT);
    bad_reply_case("null return", null_return, 2, ERR_PROTOCOL,
                   "without a return", TIMEOUT);
    bad_reply_case("event name not a string", bad_event, 2, ERR_PROTOCOL,
                   "unexpected", TIMEOUT);
    bad_reply_case("too deep", deep, 2, ERR_PROTOCOL, "deep", TIMEOUT);
    bad_reply_case("NUL byte", nul, 2, ERR_PROTOCOL, "NUL", TIMEOUT);
    bad_reply_case("never answers", silent, 1, ERR_TIMEOUT, "query-status",
                   300);
}

static void
test_oversized(void)
{
    size_t n = QMP_MAX_MESSAGE + 4096;
    char *big = malloc(n);
    struct fp_step tail[] = { FP_BUF(big, n), FP_END };

    memset(big, ' ', n);
    memcpy(big, "{\"return\": \"", 12);
    memset(big + 12, 'x', n - 16);
    memcpy(big + n - 4, "\"}\r\n", 4);
    bad_reply_case("oversized reply", tail, 2, ERR_PROTOCOL, "too large",
                   TIMEOUT);
    free(big);
}

static void
test_stale_id(void)
{
    static const struct fp_step steps[] = {
        HANDSHAKE,
        FP_EXPECT(STATUS_CMD),
        FP_SEND("{\"return\": {\"status\": \"stale\"}, \"id\": 1}\r\n"
                "{\"return\": {\"status\": \"stale\"}, \"id\": \"2\"}\r\n"
                "{\"error\": {\"class\": \"GenericError\", \"desc\": \"x\"}}"
                "\r\n{\"return\": {\"status\": \"stale\"}}\r\n"),
        FP_SEND(STATUS_OK),
        FP_END,
    };
    struct error *err = NULL;
    struct fakepeer *fp;
    struct qmp *q = connect_peer(steps, &fp, &err);
    json_object *ret;

    ret = qmp_execute(q, "query-status", NULL, TIMEOUT, &err);
    ok(strcmp(status_of(ret), "running") == 0,
       "replies with other or no ids are skipped");
    json_object_put(ret);
    error_free(err);
    qmp_close(q);
    ok(fakepeer_finish(fp), "stale id: peer script");
}

static void
test_bad_handshake(void)
{
    static const struct fp_step not_greeting[] = {
        FP_SEND(CAPS_OK), FP_END
    };
    static const struct fp_step caps_refused[] = {
        FP_SEND(GREETING),
        FP_EXPECT(CAPS_CMD),
        FP_SEND("{\"id\": 1, \"error\": {\"class\": \"GenericError\", "
                "\"desc\": \"Capabilities negotiation is already "
                "complete, command ignored\"}}\r\n"),
        FP_END,
    };
    static const struct fp_step no_greeting[] = { FP_END };
    static const struct fp_step greeting_eof[] = {
        FP_SEND("{\"QMP\": {\"version\""), FP_HANGUP, FP_END
    };
    struct error *err = NULL;
    struct fakepeer *fp;
    struct qmp *q;
    int64_t t0;

    q = connect_peer(not_greeting, &fp, &err);
    ok(q == NULL && err_is(err, ERR_PROTOCOL, "greeting"),
       "first message must be the greeting");
    error_free(err);
    err = NULL;
    ok(fakepeer_finish(fp), "not a greeting: peer script");

    q = connect_peer(caps_refused, &fp, &err);
    ok(q == NULL && err_is(err, ERR_PEER, "qmp_capabilities: "),
       "refused capabilities negotiation");
    error_free(err);
    err = NULL;
    ok(fakepeer_finish(fp), "caps refused: peer script");

    {
        int fd;

        fp = fakepeer_start(no_greeting, &fd);
        t0 = sock_now_ms();
        q = qmp_new_fd(fd, 200, &err);
    }
    ok(q == NULL && err_is(err, ERR_TIMEOUT, "greeting") &&
           sock_now_ms() - t0 < 1200,
       "no greeting: timeout");
    error_free(err);
    err = NULL;
    ok(fakepeer_finish(fp), "no greeting: peer script");

    q = connect_peer(greeting_eof, &fp, &err);
    ok(q == NULL && err_is(err, ERR_PROTOCOL, "closed"),
       "EOF inside the greeting");
    error_free(err);
    ok(fakepeer_finish(fp), "greeting EOF: peer script");
}

static void
test_connect_path(void)
{
    static const struct fp_step steps[] = {
        HANDSHAKE,
        FP_EXPECT(STATUS_CMD),
        FP_SEND(STATUS_OK),
        FP_END,
    };
    char dir[] = "/tmp/vmsnap-test-qmp-XXXXXX";
    char path[256], longpath[200];
    struct error *err = NULL;
    struct fakepeer *fp;
    struct qmp *q;
    json_object *ret;
    int fd;

    if (mkdtemp(dir) == NULL) {
        ok(false, "mkdtemp: %s", strerror(errno));
        return;
    }
    snprintf(path, sizeof(path), "%s/qmp.sock", dir);

    fd = sock_connect_unix(path, 100, &err);
    ok(fd == -1 && err_is(err, ERR_NOT_FOUND, "qmp.sock"),
       "connect to a missing socket: not found");
    error_free(err);
    err = NULL;
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    fd = sock_connect_unix(longpath, 100, &err);
    ok(fd == -1 && err_is(err, ERR_INVALID, "too long"), "path too long");
    error_free(err);
    err = NULL;
    fd = sock_connect_unix_wait(path, 150, &err);
    ok(fd == -1 && err_is(err, ERR_TIMEOUT, NULL),
       "waiting for a socket that never appears times out");
    error_free(err);
    err = NULL;

    /* The listener appears 150 ms after we start connecting, as when QEMU
     * is still starting.
     */
    fp = fakepeer_start_unix(path, 150, steps);
    q = qmp_connect(path, TIMEOUT, &err);
    ok(q != NULL, "qmp_connect waits for the socket");
    ret = qmp_execute(q, "query-status", NULL, TIMEOUT, &err);
    ok(strcmp(status_of(ret), "running") == 0, "command over the socket");
    json_object_put(ret);
    error_free(err);
    qmp_close(q);
    ok(fakepeer_finish(fp), "connect: peer script");
    rmdir(dir);
}

int
main(void)
{
    test_normal();
    test_split_reply();
    test_events();
    test_event_overflow();
    test_event_bytes();
    test_error_reply();
    test_bad_replies();
    test_oversized();
    test_stale_id();
    test_bad_handshake();
    test_connect_path();
    qmp_close(NULL);
    return tap_done();
}
