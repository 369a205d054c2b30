/* Protocol tests of the guest agent client against scripted fake agents. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakepeer.h"
#include "qga.h"
#include "sock.h"
#include "tap.h"

/* What we must send to resync with id N, and what qemu-ga answers. */
#define SYNC(n)                                                                \
    "\xff{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":" #n      \
    "}}\n"
#define SYNC_OK(n) "\xff{\"return\": " #n "}\n"

#define PING "{\"execute\":\"guest-ping\"}\n"
#define EMPTY_OK "{\"return\": {}}\n"
#define STATUS "{\"execute\":\"guest-fsfreeze-status\"}\n"
#define FREEZE "{\"execute\":\"guest-fsfreeze-freeze\"}\n"
#define THAW "{\"execute\":\"guest-fsfreeze-thaw\"}\n"

#define TIMEOUT 3000
#define FIRST_ID 1000

/* A client on a new fake agent playing STEPS, with sync ids from 1000. */
static struct qga *
agent(const struct fp_step *steps, struct fakepeer **fp)
{
    struct error *err = NULL;
    struct qga *g;
    int fd;

    *fp = fakepeer_start(steps, &fd);
    g = qga_new_fd(fd, &err);
    if (g == NULL) {
        error_report("test-qga", err);
        exit(1);
    }
    qga_set_next_sync_id(g, FIRST_ID);
    return g;
}

static void
fp_sleep_ms(int ms)
{
    sock_sleep_ms(ms, SOCK_NO_DEADLINE);
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
test_sync_stale(void)
{
    static const struct fp_step steps[] = {
        FP_EXPECT(SYNC(1000)),
        /* Left in the channel by earlier clients: replies, half a message,
         * an old sync answer, garbage after a sentinel, an error the agent
         * sent about our own 0xFF byte.
         */
        FP_SEND("{\"return\": {}}\n{\"return\": 999}\n{\"return\": [1, {\"a"),
        FP_SEND(SYNC_OK(999)),
        FP_SEND("\xff}}}]garbage\n"),
        FP_SEND("\xff{\"error\": {\"class\": \"GenericError\", \"desc\": "
                "\"JSON parse error, invalid UTF-8 sequence\"}}\n"),
        FP_SPLIT(SYNC_OK(1000), 1, 1),
        FP_EXPECT(PING),
        FP_SEND(EMPTY_OK),
        FP_EXPECT(PING),
        FP_SEND(EMPTY_OK),
        FP_END,
    };
    struct error *err = NULL;
    struct fakepeer *fp;
    struct qga *g = agent(steps, &fp);

    ok(qga_ping(g, TIMEOUT, &err) == 0,
       "first command syncs past stale data");
    ok(qga_ping(g, TIMEOUT, &err) == 0, "second command does not resync");
    ok(err == NULL && qga_fd(g) >= 0, "no error");
    qga_close(g);
    ok(fakepeer_finish(fp), "sync: 0xff precedes guest-sync-delimited");
}

static void
test_extra_reply(void)
{
    static const struct fp_step steps[] = {
        FP_EXPECT(SYNC(1000)),
        FP_SEND(SYNC_OK(1000)),
        FP_EXPECT(PING),
        FP_SEND("{\"return\": {}}"),
        FP_PAUSE(20),
        FP_SEND("\r\n"), /* a late newline is not a reason to resync */
        FP_EXPECT(PING),
        FP_SEND(EMPTY_OK "{\"return\": \"frozen\"}\n"), /* one too many */
        FP_PAUSE(50),
        FP_EXPECT(SYNC(1001)),
        FP_SEND(SYNC_OK(1001)),
        FP_EXPECT(STATUS),
        FP_SEND("{\"return\": \"thawed\"}\n"),
        FP_END,
    };
    struct error *err = NULL;
    struct fakepeer *fp;
    struct qga *g = agent(steps, &fp);

    ok(qga_ping(g, TIMEOUT, &err) == 0, "ping");
    ok(qga_ping(g, TIMEOUT, &err) == 0, "ping after a late newline");
    fp_sleep_ms(100);
    ok(qga_fsfreeze_status(g, TIMEOUT, &err) == QGA_THAWED,
       "an unexpected extra reply is not taken for the next one");
    ok(err == NULL, "no error");
    error_free(err);
    qga_close(g);
    ok(fakepeer_finish(fp), "extra reply: resync before the next command");
}

static void
test_late_reply(void)
{
    static const struct fp_step steps[] = {
        FP_EXPECT(SYNC(1000)),
        FP_SEND(SYNC_OK(1000)),
        FP_EXPECT(STATUS),
        FP_PAUSE(300),
        FP_SEND("{\"return\": \"frozen\"}\n"), /* too late */
        FP_EXPECT(SYNC(1001)),
        FP_SEND(SYNC_OK(1001)),
        FP_EXPECT(STATUS),
        FP_SEND("{\"return\": \"thawed\"}\n"),
        FP_END,
    };
    struct error *err = NULL;
    struct fakepeer *fp;
    struct qga *g = agent(steps, &fp);
    int64_t t0 = sock_now_ms();
    int r;

    r = qga_fsfreeze_status(g, 150, &err);
    ok(r == -1 && err_is(err, ERR_TIMEOUT, "guest-fsfreeze-status") &&
           sock_now_ms() - t0 < 1000,
       "timeout");
    error_free(err);
    err = NULL;
    r = qga_fsfreeze_status(g, TIMEOUT, &err);
    ok(r == QGA_THAWED, "late reply dropped after resync");
    error_free(err);
    qga_close(g);
    ok(fakepeer_finish(fp), "late reply: resync with a fresh id");
}

static void
test_fsfreeze(void)
{
    static const struct fp_step steps[] = {
        FP_EXPECT(SYNC(1000)),
        FP_SEND(SYNC_OK(1000)),
        FP_EXPECT(STATUS),
        FP_SEND("{\"return\": \"thawed\"}\n"),
        FP_EXPECT(FREEZE),
        FP_SEND("{\"return\": 2}\n"),
        FP_EXPECT(STATUS),
        FP_SEND("{\"return\": \"frozen\"}\n"),
        FP_EXPECT(THAW),
        FP_SEND("{\"return\": 2}\n"),
        FP_EXPECT(STATUS),
        FP_SEND("{\"return\": \"melting\"}\n"),
        FP_EXPECT(STATUS),
        FP_SEND("{\"return\": 42}\n"),
        FP_EXPECT(FREEZE),
        FP_SEND("{\"return\": -1}\n"),
        FP_EXPECT(FREEZE),
        FP_SEND("{\"error\": {\"class\": \"GenericError\", \"desc\": "
                "\"failed to freeze /: Device or resource busy\"}}\n"),
        FP_EXPECT(THAW),
        FP_SEND("{\"return\": 0}\n"),
        FP_EXPECT(FREEZE),
        FP_SEND("{\"error\": {\"class\": \"GenericError\", \"desc\": "
                "\"hook failed\\nvmsnap: snapshot done\\u001b[2J\"}}\n"),
        FP_END,
    };
    struct error *err = NULL;
    struct fakepeer *fp;
    struct qga *g = agent(steps, &fp);

    ok(qga_fsfreeze_status(g, TIMEOUT, &err) == QGA_THAWED, "thawed");
    ok(qga_fsfreeze_freeze(g, TIMEOUT, &err) == 2, "froze 2");
    ok(qga_fsfreeze_status(g, TIMEOUT, &err) == QGA_FROZEN, "frozen");
    ok(qga_fsfreeze_thaw(g, TIMEOUT, &err) == 2, "thawed 2");
    ok(err == NULL, "no error so far");
    ok(qga_fsfreeze_status(g, TIMEOUT, &err) == -1 &&
           err_is(err, ERR_PROTOCOL, "unknown state"),
       "unknown state rejected");
    error_free(err);
    err = NULL;
    ok(qga_fsfreeze_status(g, TIMEOUT, &err) == -1 &&
           err_is(err, ERR_PROTOCOL, "type"),
       "wrong type rejected");
    error_free(err);
    err = NULL;
    ok(qga_fsfreeze_freeze(g, TIMEOUT, &err) == -1 &&
           err_is(err, ERR_PROTOCOL, "range"),
       "negative count rejected");
    error_free(err);
    err = NULL;
    ok(qga_fsfreeze_freeze(g, TIMEOUT, &err) == -1 &&
           err_is(err, ERR_PEER, NULL) &&
           strcmp(error_peer_class(err), "GenericError") == 0 &&
           strcmp(error_msg(err), "guest-fsfreeze-freeze: failed to freeze "
                                  "/: Device or resource busy") == 0,
       "error reply carries class and desc");
    error_free(err);
    err = NULL;
    ok(qga_fsfreeze_thaw(g, TIMEOUT, &err) == 0,
       "usable after an error reply, without resync");
    ok(qga_fsfreeze_freeze(g, TIMEOUT, &err) == -1 &&
           err_is(err, ERR_PEER, NULL) &&
           strcmp(error_msg(err), "guest-fsfreeze-freeze: hook failed\\n"
                                  "vmsnap: snapshot done\\x1b[2J") == 0,
       "the agent's text is escaped: no forged line, no escape sequence");
    error_free(err);
    err = NULL;
    qga_close(g);
    ok(fakepeer_finish(fp), "fsfreeze: peer script");
}

#define EXEC_STATUS(pid)                                                       \
    "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":" #pid "}}\n"

static void
test_exec(void)
{
    static const struct fp_step steps[] = {
        FP_EXPECT(SYNC(1000)),
        FP_SEND(SYNC_OK(1000)),
        /* 1: arguments, input, output on both streams, polling */
        FP_EXPECT("{\"execute\":\"guest-exec\",\"arguments\":{\"path\":"
                  "\"/bin/sh\",\"arg\":[\"-c\",\"cat; echo oops >&2; exit "
                  "3\"],\"input-data\":\"aGVsbG8K\",\"capture-output\":true}"
                  "}\n"),
        FP_SEND("{\"return\": {\"pid\": 1234}}\n"),
        FP_EXPECT(EXEC_STATUS(1234)),
        FP_SEND("{\"return\": {\"exited\": false}}\n"),
        FP_EXPECT(EXEC_STATUS(1234)),
        FP_SEND("{\"return\": {\"exitcode\": 3, \"out-data\": \"aGVsbG8K\", "
                "\"err-data\": \"b29wcwo=\", \"exited\": true}}\n"),
        /* 2: no arguments, no input, no output */
        FP_EXPECT("{\"execute\":\"guest-exec\",\"arguments\":{\"path\":"
                  "\"/bin/true\",\"capture-output\":true}}\n"),
        FP_SEND("{\"return\": {\"pid\": 5}}\n"),
        FP_EXPECT(EXEC_STATUS(5)),
        FP_SEND("{\"return\": {\"exitcode\": 0, \"exited\": true}}\n"),
        /* 3: killed by a signal; NUL bytes; unpadded base64; truncated */
        FP_EXPECT("{\"execute\":\"guest-exec\",\"arguments\":{\"path\":"
                  "\"/bin/cat\",\"arg\":[],\"input-data\":\"YWI=\","
                  "\"capture-output\":true}}\n"),
        FP_SEND("{\"return\": {\"pid\": 6}}\n"),
        FP_EXPECT(EXEC_STATUS(6)),
        FP_SEND("{\"return\": {\"signal\": 9, \"out-data\": \"AGEA\", "
                "\"err-data\": \"YQ\", \"out-truncated\": true, "
                "\"exited\": true}}\n"),
        /* 4: one-byte input; broken base64 in the reply */
        FP_EXPECT("{\"execute\":\"guest-exec\",\"arguments\":{\"path\":"
                  "\"/bin/cat\",\"input-data\":\"YQ==\","
                  "\"capture-output\":true}}\n"),
        FP_SEND("{\"return\": {\"pid\": 7}}\n"),
        FP_EXPECT(EXEC_STATUS(7)),
        FP_SEND("{\"return\": {\"exitcode\": 0, \"out-data\": \"a===\", "
                "\"exited\": true}}\n"),
        /* 5: error reply (commands are disabled while frozen) */
        FP_EXPECT("{\"execute\":\"guest-exec\",\"arguments\":{\"path\":"
                  "\"/bin/true\",\"capture-output\":true}}\n"),
        FP_SEND("{\"error\": {\"class\": \"GenericError\", \"desc\": "
                "\"Command guest-exec has been disabled\"}}\n"),
        /* 6: still running at the deadline */
        FP_EXPECT("{\"execute\":\"guest-exec\",\"arguments\":{\"path\":"
                  "\"/bin/sleep\",\"arg\":[\"60\"],\"capture-output\":true}"
                  "}\n"),
        FP_SEND("{\"return\": {\"pid\": 8}}\n"),
        FP_EXPECT(EXEC_STATUS(8)),
        FP_SEND("{\"return\": {\"exited\": false}}\n"),
        FP_END,
    };
    static const char *const sh_args[] = {
        "-c", "cat; echo oops >&2; exit 3", NULL
    };
    static const char *const no_args[] = { NULL };
    static const char *const sleep_args[] = { "60", NULL };
    struct qga_exec_result res;
    struct error *err = NULL;
    struct fakepeer *fp;
    struct qga *g = agent(steps, &fp);
    int r;

    qga_set_exec_poll(g, 1, 2);
    r = qga_exec(g, "/bin/sh", sh_args, "hello\n", TIMEOUT, &res, &err);
    ok(r == 0 && res.exitcode == 3 && res.signal == 0 && res.out_len == 6 &&
           strcmp(res.out, "hello\n") == 0 && res.err_len == 5 &&
           strcmp(res.err, "oops\n") == 0 && !res.out_truncated,
       "exec: output decoded, exit code");
    qga_exec_result_clear(&res);

    r = qga_exec(g, "/bin/true", NULL, NULL, TIMEOUT, &res, &err);
    ok(r == 0 && res.exitcode == 0 && res.out && res.out_len == 0 &&
           res.err && res.err_len == 0,
       "exec: no output gives empty strings");
    qga_exec_result_clear(&res);

    r = qga_exec(g, "/bin/cat", no_args, "ab", TIMEOUT, &res, &err);
    ok(r == 0 && res.exitcode == -1 && res.signal == 9 &&
           res.out_len == 3 && memcmp(res.out, "\0a\0", 4) == 0 &&
           res.err_len == 1 && strcmp(res.err, "a") == 0 &&
           res.out_truncated && !res.err_truncated,
       "exec: signal, NUL bytes, unpadded base64, truncation flag");
    qga_exec_result_clear(&res);
    ok(err == NULL, "no error so far");

    r = qga_exec(g, "/bin/cat", NULL, "a", TIMEOUT, &res, &err);
    ok(r == -1 && err_is(err, ERR_PROTOCOL, "base64") && res.out == NULL,
       "exec: bad base64 rejected");
    error_free(err);
    err = NULL;

    r = qga_exec(g, "/bin/true", NULL, NULL, TIMEOUT, &res, &err);
    ok(r == -1 && err_is(err, ERR_PEER, "guest-exec: Command guest-exec"),
       "exec: error reply");
    error_free(err);
    err = NULL;

    /* One poll, then the 20 ms pause outlasts the 15 ms budget. */
    qga_set_exec_poll(g, 20, 200);
    r = qga_exec(g, "/bin/sleep", sleep_args, NULL, 15, &res, &err);
    ok(r == -1 && err_is(err, ERR_TIMEOUT, NULL), "exec: deadline");
    error_free(err);
    err = NULL;

    qga_close(g);
    ok(fakepeer_finish(fp), "exec: bytes sent as expected");
    qga_exec_result_clear(NULL);
}

static void
test_info(void)
{
    static const struct fp_step steps[] = {
        FP_EXPECT(SYNC(1000)),
        FP_SEND(SYNC_OK(1000)),
        FP_EXPECT("{\"execute\":\"guest-info\"}\n"),
        FP_SEND("{\"return\": {\"version\": \"7.2.0\", \"supported_commands\""
                ": [{\"enabled\": true, \"name\": \"guest-ping\", "
                "\"success-response\": true}]}}\n"),
        FP_EXPECT("{\"execute\":\"guest-get-fsinfo\"}\n"),
        FP_SEND("{\"return\": [{\"name\": \"vda\", \"mountpoint\": \"/\", "
                "\"type\": \"ext4\", \"disk\": []}]}\n"),
        FP_EXPECT("{\"execute\":\"guest-get-fsinfo\"}\n"),
        FP_SEND("{\"return\": {}}\n"),
        FP_END,
    };
    struct error *err = NULL;
    struct fakepeer *fp;
    struct qga *g = agent(steps, &fp);
    json_object *ret, *v;

    ret = qga_info(g, TIMEOUT, &err);
    ok(ret && json_object_object_get_ex(ret, "version", &v) &&
           strcmp(json_object_get_string(v), "7.2.0") == 0,
       "guest-info");
    json_object_put(ret);
    ret = qga_get_fsinfo(g, TIMEOUT, &err);
    ok(ret && json_object_array_length(ret) == 1, "guest-get-fsinfo");
    json_object_put(ret);
    ret = qga_get_fsinfo(g, TIMEOUT, &err);
    ok(ret == NULL && err_is(err, ERR_PROTOCOL, "type"),
       "guest-get-fsinfo: not an array");
    error_free(err);
    qga_close(g);
    ok(fakepeer_finish(fp), "info: peer script");
}

static void
test_bad_replies(void)
{
    static const struct fp_step steps[] = {
        FP_EXPECT(SYNC(1000)),
        FP_SEND(SYNC_OK(1000)),
        FP_EXPECT(PING),
        FP_SEND("{\"return\": {}, \"oops\"}\n"),
        FP_EXPECT(SYNC(1001)),
        FP_SEND(SYNC_OK(1001)),
        FP_EXPECT(PING),
        FP_SEND("{\"retour\": {}}\n"),
        FP_EXPECT(SYNC(1002)),
        FP_SEND(SYNC_OK(1002)),
        FP_EXPECT(PING),
        FP_SEND("\xff{\"return\": {}}\n"),
        FP_EXPECT(SYNC(1003)),
        FP_SEND(SYNC_OK(1003)),
        FP_EXPECT(PING),
        FP_SEND("{\"error\": {\"class\": \"GenericError\"}}\n"),
        FP_EXPECT(SYNC(1004)),
        FP_SEND(SYNC_OK(1004)),
        FP_EXPECT(PING),
        FP_SEND("[]\n"),
        FP_EXPECT(SYNC(1005)),
        FP_SEND(SYNC_OK(1005)),
        FP_EXPECT(PING),
        FP_SEND("{\"return\": {\"x\": \"unfinished"),
        FP_HANGUP,
        FP_END,
    };
    static const char *const names[] = {
        "malformed JSON", "no return member", "unexpected sentinel",
        "error without desc", "top-level array",
    };
    struct error *err = NULL;
    struct fakepeer *fp;
    struct qga *g = agent(steps, &fp);
    int64_t t0;
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        ok(qga_ping(g, TIMEOUT, &err) == -1 &&
               err_is(err, ERR_PROTOCOL, "guest-ping: "),
           "%s: protocol error, then resync", names[i]);
        error_free(err);
        err = NULL;
    }
    ok(qga_ping(g, TIMEOUT, &err) == -1 &&
           err_is(err, ERR_PROTOCOL, "closed in the middle of a message"),
       "EOF mid-message");
    error_free(err);
    err = NULL;
    t0 = sock_now_ms();
    ok(qga_ping(g, TIMEOUT, &err) == -1 &&
           err_is(err, ERR_PROTOCOL, "closed") && sock_now_ms() - t0 < 100,
       "dead connection fails fast");
    error_free(err);
    qga_close(g);
    ok(fakepeer_finish(fp), "bad replies: resync each time");
}

static void
test_hangup_between(void)
{
    static const struct fp_step steps[] = {
        FP_EXPECT(SYNC(1000)),
        FP_SEND(SYNC_OK(1000)),
        FP_EXPECT(PING),
        FP_SEND(EMPTY_OK),
        FP_HANGUP,
        FP_END,
    };
    struct error *err = NULL;
    struct fakepeer *fp;
    struct qga *g = agent(steps, &fp);

    ok(qga_ping(g, TIMEOUT, &err) == 0, "ping");
    fp_sleep_ms(50);
    ok(qga_ping(g, TIMEOUT, &err) == -1 &&
           err_is(err, ERR_PROTOCOL, "connection closed"),
       "agent gone between commands: closed, nothing sent");
    error_free(err);
    qga_close(g);
    ok(fakepeer_finish(fp), "hangup: peer script");
}

static void
test_silent_agent(void)
{
    static const struct fp_step steps[] = {
        FP_EXPECT(SYNC(1000)),
        FP_EXPECT(SYNC(1001)),
        FP_END,
    };
    struct error *err = NULL;
    struct fakepeer *fp;
    struct qga *g = agent(steps, &fp);
    int64_t t0 = sock_now_ms(), dt;

    ok(qga_sync(g, 200, &err) == -1 &&
           err_is(err, ERR_TIMEOUT, "guest-sync-delimited"),
       "agent not running: sync times out");
    dt = sock_now_ms() - t0;
    ok(dt >= 200 && dt < 1200, "within the deadline (%lld ms)",
       (long long)dt);
    error_free(err);
    err = NULL;
    ok(qga_ping(g, 100, &err) == -1 && err_is(err, ERR_TIMEOUT, NULL),
       "next command tries a new sync");
    error_free(err);
    qga_close(g);
    ok(fakepeer_finish(fp), "silent: ids increase");
}

/* Connecting by path, to an agent whose socket appears later: qga_connect
 * syncs (past a stale reply); qga_connect_start sends the sync and
 * returns, and the first command reads the answer; a silent agent fails
 * that command, not the connection, where qga_connect fails at once.
 */
static void
test_connect_path(void)
{
    static const struct fp_step answering[] = {
        FP_SEND("{\"return\": \"stale\"}\n"),
        FP_SYNC,
        FP_EXPECT(PING),
        FP_SEND(EMPTY_OK),
        FP_END,
    };
    static const struct fp_step silent[] = {
        FP_SYNC_SILENT,
        FP_END,
    };
    char dir[] = "/tmp/vmsnap-test-qga-XXXXXX";
    char path[256];
    struct error *err = NULL;
    struct fakepeer *fp;
    struct qga *g;

    if (mkdtemp(dir) == NULL) {
        ok(false, "mkdtemp: %s", strerror(errno));
        return;
    }
    snprintf(path, sizeof(path), "%s/qga.sock", dir);

    fp = fakepeer_start_unix(path, 100, answering);
    g = qga_connect(path, TIMEOUT, &err);
    ok(g != NULL, "qga_connect waits for the socket and syncs");
    ok(g != NULL && qga_ping(g, TIMEOUT, &err) == 0, "ping after connect");
    error_free(err);
    err = NULL;
    qga_close(g);
    ok(fakepeer_finish(fp), "connect: random sync id echoed");
    unlink(path);

    fp = fakepeer_start_unix(path, 100, answering);
    g = qga_connect_start(path, TIMEOUT, &err);
    ok(g != NULL, "qga_connect_start waits for the socket");
    ok(g != NULL && qga_ping(g, TIMEOUT, &err) == 0,
       "the first command takes the sync's answer, then its own");
    error_free(err);
    err = NULL;
    qga_close(g);
    ok(fakepeer_finish(fp), "connect_start: one sync, then the ping");
    unlink(path);

    fp = fakepeer_start_unix(path, 0, silent);
    g = qga_connect_start(path, TIMEOUT, &err);
    ok(g != NULL, "connect_start to a silent agent returns a connection");
    ok(g != NULL && qga_ping(g, 200, &err) == -1 &&
           err_is(err, ERR_TIMEOUT, "guest-sync-delimited"),
       "its first command waits for the sync and times out");
    error_free(err);
    err = NULL;
    qga_close(g);
    ok(fakepeer_finish(fp), "silent agent: the sync, nothing after it");
    unlink(path);

    fp = fakepeer_start_unix(path, 0, silent);
    g = qga_connect(path, 200, &err);
    ok(g == NULL && err_is(err, ERR_TIMEOUT, "guest-sync-delimited"),
       "qga_connect to a silent agent fails");
    error_free(err);
    qga_close(g);
    ok(fakepeer_finish(fp), "qga_connect: the sync, nothing after it");
    unlink(path);
    rmdir(dir);
}

int
main(void)
{
    test_sync_stale();
    test_late_reply();
    test_extra_reply();
    test_fsfreeze();
    test_exec();
    test_info();
    test_bad_replies();
    test_hangup_between();
    test_silent_agent();
    test_connect_path();
    qga_close(NULL);
    return tap_done();
}
