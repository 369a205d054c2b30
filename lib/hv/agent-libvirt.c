/* vmsnap: the guest agent of a libvirt domain (agent.h), reached through
 * libvirt, which owns the agent's channel:
 *   freeze, thaw     virDomainFSFreeze, virDomainFSThaw, bounded by the
 *                    domain's agent response timeout, which we set to the
 *                    call's timeout first (libvirt's default is to block,
 *                    and libvirt runs one agent command per domain at a
 *                    time: an unbounded freeze would hold up our thaw);
 *   everything else  virDomainQemuAgentCommand (libvirt-qemu) with the
 *                    call's timeout; libvirt marks the domain tainted
 *                    "custom-ga-command" in its log the first time.
 * libvirt synchronises the channel itself (guest-sync before commands).
 *
 * The agent has its own reference to a libvirt connection and opens a
 * new one when that one dies (libvirtd restarted): the agent of a domain
 * whose libvirtd restarts keeps working once libvirtd is back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <openssl/evp.h>

#include "agent.h"
#include "cleanup.h"
#include "hv-libvirt-priv.h"
#include "log.h"
#include "sock.h"
#include "xalloc.h"
#include "xjson.h"

/* Largest stdin agent_exec sends (before base64), and the nesting
 * accepted in a reply.
 */
#define LVA_EXEC_MAX_INPUT (4 * 1024 * 1024)
#define LVA_MAX_DEPTH 64

struct lv_agent {
    struct agent base;   /* first: agent.h */
    struct lv lv;        /* its connection (cfg unused) */
    char id[37];         /* the domain's UUID */
    char *name;          /* its name, for messages */
    virDomainPtr dom;    /* on connection generation dom_gen */
    unsigned dom_gen;    /* lv.gen when dom was looked up */
    bool dead;           /* the domain is gone or stopped */
};

static const struct agent_ops lva_ops;

/* The domain on a live connection, reconnecting when needed. */
static virDomainPtr
lva_dom(struct lv_agent *a, struct error **errp)
{
    virConnectPtr c;

    if (a->dead) {
        error_setg(errp, ERR_IO, "domain %s is no longer running", a->name);
        return NULL;
    }
    c = lv_conn(&a->lv, errp);
    if (c == NULL) {
        return NULL;
    }
    if (a->dom && a->dom_gen == a->lv.gen) {
        return a->dom;
    }
    if (a->dom) {
        virDomainFree(a->dom);
        a->dom = NULL;
    }
    a->dom = virDomainLookupByUUIDString(c, a->id);
    if (a->dom == NULL) {
        lv_fail_agent(&a->lv, &a->dead, errp, "cannot find domain %s",
                      a->name);
        return NULL;
    }
    a->dom_gen = a->lv.gen;
    return a->dom;
}

/* Run REQUEST (the JSON text of a whole agent request) and return the
 * reply's "return" value (caller puts), or NULL.
 */
static json_object *
lva_command(struct agent *ag, const char *request, int timeout_ms,
            struct error **errp)
{
    struct lv_agent *a = (struct lv_agent *)ag;
    virDomainPtr dom = lva_dom(a, errp);
    json_tokener *tok = NULL;
    json_object *reply = NULL, *ret = NULL, *v;
    char *text;

    if (dom == NULL) {
        return NULL;
    }
    text = virDomainQemuAgentCommand(dom, request, lv_seconds(timeout_ms),
                                     0);
    if (text == NULL) {
        lv_fail_agent(&a->lv, &a->dead, errp, "guest agent of %s",
                      a->name);
        return NULL;
    }
    tok = json_tokener_new_ex(LVA_MAX_DEPTH);
    if (tok) {
        reply = json_tokener_parse_ex(tok, text, (int)strlen(text));
        json_tokener_free(tok);
    }
    free(text);
    if (reply && json_object_is_type(reply, json_type_object) &&
        json_object_object_get_ex(reply, "return", &v)) {
        ret = json_object_get(v);
    } else {
        error_setg(errp, ERR_PROTOCOL,
                   "guest agent of %s: a reply without \"return\"", a->name);
    }
    json_object_put(reply);
    return ret;
}

/* lva_command for a request with no arguments. */
static json_object *
lva_simple(struct agent *ag, const char *command, int timeout_ms,
           struct error **errp)
{
    char req[128];

    snprintf(req, sizeof(req), "{\"execute\":\"%s\"}", command);
    return lva_command(ag, req, timeout_ms, errp);
}

static int
lva_ping(struct agent *ag, int timeout_ms, struct error **errp)
{
    json_object *r = lva_simple(ag, "guest-ping", timeout_ms, errp);

    json_object_put(r);
    return r ? 0 : -1;
}

/* Bound the agent commands libvirt runs for us (FSFreeze, FSThaw). */
static virDomainPtr
lva_bounded(struct lv_agent *a, int timeout_ms, struct error **errp)
{
    virDomainPtr dom = lva_dom(a, errp);

    if (dom && virDomainAgentSetResponseTimeout(dom, lv_seconds(timeout_ms),
                                                0) < 0) {
        lv_fail_agent(&a->lv, &a->dead, errp,
                      "cannot set the agent timeout of %s", a->name);
        return NULL;
    }
    return dom;
}

static int
lva_freeze(struct agent *ag, int timeout_ms, struct error **errp)
{
    struct lv_agent *a = (struct lv_agent *)ag;
    virDomainPtr dom = lva_bounded(a, timeout_ms, errp);
    int n;

    if (dom == NULL) {
        return -1;
    }
    n = virDomainFSFreeze(dom, NULL, 0, 0);
    if (n < 0) {
        return lv_fail_agent(&a->lv, &a->dead, errp,
                             "cannot freeze the filesystems of %s", a->name);
    }
    return n;
}

static int
lva_thaw(struct agent *ag, int timeout_ms, struct error **errp)
{
    struct lv_agent *a = (struct lv_agent *)ag;
    virDomainPtr dom = lva_bounded(a, timeout_ms, errp);
    int n;

    if (dom == NULL) {
        return -1;
    }
    n = virDomainFSThaw(dom, NULL, 0, 0);
    if (n < 0) {
        return lv_fail_agent(&a->lv, &a->dead, errp,
                             "cannot thaw the filesystems of %s", a->name);
    }
    return n;
}

static int
lva_status(struct agent *ag, int timeout_ms, struct error **errp)
{
    json_object *r = lva_simple(ag, "guest-fsfreeze-status", timeout_ms,
                                errp);
    const char *s = json_object_is_type(r, json_type_string)
                        ? json_object_get_string(r)
                        : NULL;
    int st = -1;

    if (r == NULL) {
        return -1;
    }
    if (s && strcmp(s, "frozen") == 0) {
        st = AGENT_FROZEN;
    } else if (s && strcmp(s, "thawed") == 0) {
        st = AGENT_THAWED;
    } else {
        error_setg(errp, ERR_PROTOCOL,
                   "guest-fsfreeze-status: unexpected reply");
    }
    json_object_put(r);
    return st;
}

static int
lva_shutdown(struct agent *ag, int timeout_ms, struct error **errp)
{
    struct lv_agent *a = (struct lv_agent *)ag;
    struct error *err = NULL;
    json_object *r;

    r = lva_command(ag, "{\"execute\":\"guest-shutdown\","
                        "\"arguments\":{\"mode\":\"powerdown\"}}",
                    timeout_ms, &err);
    json_object_put(r);
    /* guest-shutdown answers nothing when it works: the guest goes away
     * (no answer, or the domain stops under the command).
     */
    if (r == NULL && error_get_class(err) != ERR_TIMEOUT && !a->dead) {
        error_propagate(errp, err);
        return -1;
    }
    error_free(err);
    return 0;
}

/* base64 of LEN bytes of SRC (caller frees). */
static char *
lva_b64_encode(const char *src, size_t len)
{
    char *out = xmalloc(4 * ((len + 2) / 3) + 1);

    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)src,
                    (int)len);
    return out;
}

/* Decode base64 member KEY of STATUS into a NUL-terminated *BUF of *LEN
 * bytes ("" when absent).  Returns 0, or -1 with the error.
 */
static int
lva_b64_member(json_object *status, const char *key, char **buf,
               size_t *len, struct error **errp)
{
    json_object *v;
    const char *text;
    size_t tlen, pad = 0;
    int n;

    *len = 0;
    if (!json_object_object_get_ex(status, key, &v)) {
        *buf = xstrdup("");
        return 0;
    }
    text = json_object_get_string(v);
    tlen = text ? strlen(text) : 0;
    if (!json_object_is_type(v, json_type_string) || tlen % 4 != 0 ||
        tlen > INT32_MAX) {
        error_setg(errp, ERR_PROTOCOL, "guest-exec-status: bad %s", key);
        return -1;
    }
    *buf = xmalloc(tlen / 4 * 3 + 1);
    n = EVP_DecodeBlock((unsigned char *)*buf, (const unsigned char *)text,
                        (int)tlen);
    if (n < 0) {
        free(*buf);
        *buf = NULL;
        error_setg(errp, ERR_PROTOCOL, "guest-exec-status: bad base64 in %s",
                   key);
        return -1;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    while (pad < 2 && tlen > pad && text[tlen - 1 - pad] == '=') {
        pad++;
    }
    *len = (size_t)n - pad;
    (*buf)[*len] = '\0';
    return 0;
}

static bool
lva_bool(json_object *obj, const char *key)
{
    json_object *v;

    return json_object_object_get_ex(obj, key, &v) &&
           json_object_get_boolean(v);
}

static int
lva_exec(struct agent *ag, const char *path, const char *const *argv,
         const char *input, int timeout_ms, struct agent_exec_result *res,
         struct error **errp)
{
    int64_t deadline = sock_deadline(timeout_ms);
    json_object *req = xjson_object();
    json_object *args = xjson_object();
    json_object *arr = xjson_array();
    json_object *r = NULL, *v;
    int64_t pid;
    int wait_ms = 10, rc = -1;
    size_t i;

    memset(res, 0, sizeof(*res));
    xjson_add(req, "execute", xjson_string("guest-exec"));
    xjson_add(req, "arguments", args);
    xjson_add(args, "path", xjson_string(path));
    /* ARGV is what follows the program's name (agent.h). */
    for (i = 0; argv && argv[i]; i++) {
        xjson_append(arr, xjson_string(argv[i]));
    }
    xjson_add(args, "arg", arr);
    xjson_add(args, "capture-output", xjson_bool(true));
    if (input) {
        size_t len = strlen(input);
        char *b64;

        if (len > LVA_EXEC_MAX_INPUT) {
            error_setg(errp, ERR_INVALID, "guest-exec input over %d bytes",
                       LVA_EXEC_MAX_INPUT);
            goto out;
        }
        b64 = lva_b64_encode(input, len);
        xjson_add(args, "input-data", xjson_string(b64));
        free(b64);
    }
    r = lva_command(ag,
                    json_object_to_json_string_ext(req,
                                                   JSON_C_TO_STRING_PLAIN),
                    sock_remaining_ms(deadline) < 0
                        ? 60000
                        : sock_remaining_ms(deadline),
                    errp);
    if (r == NULL) {
        goto out;
    }
    if (!json_object_object_get_ex(r, "pid", &v) ||
        !json_object_is_type(v, json_type_int)) {
        error_setg(errp, ERR_PROTOCOL, "guest-exec: no pid in the reply");
        goto out;
    }
    pid = json_object_get_int64(v);
    for (;;) {
        char status_req[96];
        int left = sock_remaining_ms(deadline);

        json_object_put(r);
        snprintf(status_req, sizeof(status_req),
                 "{\"execute\":\"guest-exec-status\","
                 "\"arguments\":{\"pid\":%lld}}",
                 (long long)pid);
        r = lva_command(ag, status_req, left < 0 ? 60000 : left, errp);
        if (r == NULL) {
            goto out;
        }
        if (lva_bool(r, "exited")) {
            break;
        }
        if (sock_remaining_ms(deadline) == 0) {
            error_setg(errp, ERR_TIMEOUT, "guest program %s did not finish",
                       path);
            goto out;
        }
        sock_sleep_ms(wait_ms, deadline);
        wait_ms = wait_ms * 2 > 200 ? 200 : wait_ms * 2;
    }
    res->exitcode = json_object_object_get_ex(r, "exitcode", &v)
                        ? json_object_get_int(v)
                        : -1;
    res->signal = json_object_object_get_ex(r, "signal", &v)
                      ? json_object_get_int(v)
                      : 0;
    res->out_truncated = lva_bool(r, "out-truncated");
    res->err_truncated = lva_bool(r, "err-truncated");
    if (lva_b64_member(r, "out-data", &res->out, &res->out_len, errp) < 0 ||
        lva_b64_member(r, "err-data", &res->err, &res->err_len, errp) < 0) {
        free(res->out);
        free(res->err);
        memset(res, 0, sizeof(*res));
        goto out;
    }
    rc = 0;
out:
    json_object_put(r);
    json_object_put(req);
    return rc;
}

static bool
lva_is_dead(const struct agent *ag)
{
    const struct lv_agent *a = (const struct lv_agent *)ag;

    return a->dead;
}

static void
lva_close(struct agent *ag)
{
    struct lv_agent *a = (struct lv_agent *)ag;

    if (a == NULL) {
        return;
    }
    if (a->dom) {
        virDomainFree(a->dom);
    }
    if (a->lv.conn) {
        virConnectClose(a->lv.conn);
    }
    free(a->lv.uri);
    free(a->name);
    free(a);
}

/* A new agent for domain ID named NAME on URI, with no connection yet. */
static struct lv_agent *
lva_new(const char *uri, const char *id, const char *name)
{
    struct lv_agent *a = xcalloc(1, sizeof(*a));

    a->lv.uri = xstrdup(uri);
    a->name = xstrdup(name);
    a->base.ops = &lva_ops;
    snprintf(a->id, sizeof(a->id), "%s", id);
    a->lv.reconnect_ms = HV_LIBVIRT_RECONNECT_MS;
    return a;
}

/* In a child just forked: never touch the parent's connection (its
 * socket is shared with the parent; a libvirt connection must not be used
 * across fork); open our own.  libvirtd away is no failure: every call
 * connects when it has no connection, so the agent works once libvirtd
 * is back (the quiesce watchdog relies on it).
 */
static struct agent *
lva_reopen_in_child(const struct agent *ag, struct error **errp)
{
    const struct lv_agent *parent = (const struct lv_agent *)ag;
    struct lv_agent *a = lva_new(parent->lv.uri, parent->id, parent->name);
    struct error *err = NULL;

    (void)errp;
    if (lva_dom(a, &err) == NULL) {
        log_debug("libvirt", "agent of %s in the child: %s", a->name,
                  error_msg(err));
        error_free(err);
    }
    return &a->base;
}

struct agent *
lv_agent_open(struct lv *lv, const struct hv_domain *d, int timeout_ms,
              struct error **errp)
{
    virDomainPtr dom = lv_lookup(lv, d->id, errp);
    struct lv_xdom x;
    struct lv_agent *a = NULL;
    int active;

    if (dom == NULL) {
        return NULL;
    }
    active = virDomainIsActive(dom);
    if (active < 0) {
        lv_fail(lv, errp, "cannot read domain %s", d->id);
        goto fail;
    }
    if (!active) {
        error_setg(errp, ERR_CONFLICT, "domain %s is not running",
                   virDomainGetName(dom));
        goto fail;
    }
    if (lv_xdom_read(lv, dom, 0, &x, errp) < 0) {
        goto fail;
    }
    if (!x.agent) {
        lv_xdom_clear(&x);
        error_setg(errp, ERR_INVALID,
                   "domain %s has no guest agent channel",
                   virDomainGetName(dom));
        goto fail;
    }
    lv_xdom_clear(&x);
    a = lva_new(lv->uri, d->id, virDomainGetName(dom));
    /* Share the driver's connection; the agent replaces its reference by
     * a connection of its own if that one dies.
     */
    if (virConnectRef(lv->conn) < 0) {
        lv_fail(lv, errp, "cannot use the libvirt connection");
        goto fail;
    }
    a->lv.conn = lv->conn;
    a->lv.gen = 1;
    a->dom = dom;
    a->dom_gen = 1;
    dom = NULL;
    if (lva_ping(&a->base, timeout_ms, errp) < 0) {
        error_prepend(errp, "guest agent does not answer: ");
        goto fail;
    }
    return &a->base;
fail:
    if (dom) {
        virDomainFree(dom);
    }
    if (a) {
        lva_close(&a->base);
    }
    return NULL;
}

static const struct agent_ops lva_ops = {
    .version = AGENT_OPS_VERSION,
    .name = "libvirt",
    .ping = lva_ping,
    .freeze = lva_freeze,
    .thaw = lva_thaw,
    .status = lva_status,
    .shutdown = lva_shutdown,
    .command = lva_command,
    .exec = lva_exec,
    .is_dead = lva_is_dead,
    .reopen_in_child = lva_reopen_in_child,
    .close = lva_close,
};
