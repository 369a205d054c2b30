/* vmsnap: the guest agent reached on its QEMU chardev socket (qemu-ga's
 * own protocol, proto/qga.h), behind the agent interface of agent.h.
 */
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "qga.h"
#include "xalloc.h"

struct agent_qga {
    struct agent a;     /* first: the interface */
    struct qga *g;      /* the connection, owned */
};

static struct qga *
agent_qga_conn(const struct agent *a)
{
    return ((const struct agent_qga *)a)->g;
}

static int
agent_qga_ping(struct agent *a, int timeout_ms, struct error **errp)
{
    return qga_ping(agent_qga_conn(a), timeout_ms, errp);
}

static int
agent_qga_freeze(struct agent *a, int timeout_ms, struct error **errp)
{
    return qga_fsfreeze_freeze(agent_qga_conn(a), timeout_ms, errp);
}

static int
agent_qga_thaw(struct agent *a, int timeout_ms, struct error **errp)
{
    return qga_fsfreeze_thaw(agent_qga_conn(a), timeout_ms, errp);
}

static int
agent_qga_status(struct agent *a, int timeout_ms, struct error **errp)
{
    int st = qga_fsfreeze_status(agent_qga_conn(a), timeout_ms, errp);

    if (st < 0) {
        return -1;
    }
    return st == QGA_FROZEN ? AGENT_FROZEN : AGENT_THAWED;
}

static int
agent_qga_shutdown(struct agent *a, int timeout_ms, struct error **errp)
{
    struct error *err = NULL;
    json_object *r = qga_execute(agent_qga_conn(a), "guest-shutdown", NULL,
                                 timeout_ms, &err);

    /* guest-shutdown sends no reply when it works. */
    json_object_put(r);
    if (err && error_get_class(err) != ERR_TIMEOUT &&
        !qga_is_dead(agent_qga_conn(a))) {
        error_propagate(errp, err);
        return -1;
    }
    error_free(err);
    return 0;
}

static json_object *
agent_qga_command(struct agent *a, const char *request, int timeout_ms,
                  struct error **errp)
{
    json_object *req = json_tokener_parse(request), *exec, *args = NULL;
    json_object *r = NULL;

    if (req == NULL || !json_object_is_type(req, json_type_object) ||
        !json_object_object_get_ex(req, "execute", &exec) ||
        !json_object_is_type(exec, json_type_string) ||
        (json_object_object_get_ex(req, "arguments", &args) &&
         !json_object_is_type(args, json_type_object))) {
        error_setg(errp, ERR_INVALID,
                   "the command must be a JSON object with \"execute\" "
                   "(and optional \"arguments\", an object)");
    } else {
        r = qga_execute(agent_qga_conn(a), json_object_get_string(exec),
                        args, timeout_ms, errp);
    }
    json_object_put(req);
    return r;
}

static int
agent_qga_exec(struct agent *a, const char *path, const char *const *argv,
               const char *input, int timeout_ms,
               struct agent_exec_result *res, struct error **errp)
{
    struct qga_exec_result q = {0};

    if (qga_exec(agent_qga_conn(a), path, argv, input, timeout_ms, &q,
                 errp) < 0) {
        return -1;
    }
    res->out = q.out;
    res->out_len = q.out_len;
    res->err = q.err;
    res->err_len = q.err_len;
    res->exitcode = q.exitcode;
    res->signal = q.signal;
    res->out_truncated = q.out_truncated;
    res->err_truncated = q.err_truncated;
    return 0;
}

static bool
agent_qga_is_dead(const struct agent *a)
{
    return qga_is_dead(agent_qga_conn(a));
}

static int
agent_qga_child_fd(const struct agent *a)
{
    return qga_fd(agent_qga_conn(a));
}

static void agent_qga_close(struct agent *a);

static const struct agent_ops agent_qga_ops;

static struct agent *
agent_qga_wrap(struct qga *g)
{
    struct agent_qga *q = xcalloc(1, sizeof(*q));

    q->a.ops = &agent_qga_ops;
    q->g = g;
    return &q->a;
}

/* The child shares the socket with its parent, who may still be
 * talking on it: the child's own struct qga starts with a new sync id,
 * and the first command resynchronises (0xFF), dropping any reply meant
 * for the parent.
 */
static struct agent *
agent_qga_reopen_in_child(const struct agent *a, struct error **errp)
{
    struct qga *g = qga_new_fd(qga_fd(agent_qga_conn(a)), errp);

    return g ? agent_qga_wrap(g) : NULL;
}

static void
agent_qga_close(struct agent *a)
{
    qga_close(agent_qga_conn(a));
    free(a);
}

static const struct agent_ops agent_qga_ops = {
    .version = AGENT_OPS_VERSION,
    .name = "qga",
    .ping = agent_qga_ping,
    .freeze = agent_qga_freeze,
    .thaw = agent_qga_thaw,
    .status = agent_qga_status,
    .shutdown = agent_qga_shutdown,
    .command = agent_qga_command,
    .exec = agent_qga_exec,
    .is_dead = agent_qga_is_dead,
    .child_fd = agent_qga_child_fd,
    .reopen_in_child = agent_qga_reopen_in_child,
    .close = agent_qga_close,
};

struct agent *
agent_qga_connect(const char *sock_path, int timeout_ms, unsigned flags,
                  struct error **errp)
{
    struct qga *g = flags & AGENT_OPEN_SYNC_LATER
                        ? qga_connect_start(sock_path, timeout_ms, errp)
                        : qga_connect(sock_path, timeout_ms, errp);

    return g ? agent_qga_wrap(g) : NULL;
}
