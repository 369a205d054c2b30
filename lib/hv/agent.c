/* vmsnap: the guest agent interface (see agent.h). */
#include <stdlib.h>
#include <string.h>

#include "agent.h"

/* Fail with "the NAME agent cannot VERB" when A or its method is
 * missing.
 */
#define AGENT_NEED(a, method, verb, fail)                                      \
    do {                                                                       \
        if ((a) == NULL || (a)->ops->method == NULL) {                         \
            error_setg(errp, ERR_INVALID, "the %s agent cannot %s",           \
                       (a) ? (a)->ops->name : "missing", verb);                \
            return fail;                                                       \
        }                                                                      \
    } while (0)

int
agent_ping(struct agent *a, int timeout_ms, struct error **errp)
{
    AGENT_NEED(a, ping, "ping", -1);
    return a->ops->ping(a, timeout_ms, errp);
}

int
agent_freeze(struct agent *a, int timeout_ms, struct error **errp)
{
    AGENT_NEED(a, freeze, "freeze", -1);
    return a->ops->freeze(a, timeout_ms, errp);
}

int
agent_thaw(struct agent *a, int timeout_ms, struct error **errp)
{
    AGENT_NEED(a, thaw, "thaw", -1);
    return a->ops->thaw(a, timeout_ms, errp);
}

int
agent_status(struct agent *a, int timeout_ms, struct error **errp)
{
    AGENT_NEED(a, status, "report its freeze status", -1);
    return a->ops->status(a, timeout_ms, errp);
}

int
agent_shutdown(struct agent *a, int timeout_ms, struct error **errp)
{
    AGENT_NEED(a, shutdown, "shut the guest down", -1);
    return a->ops->shutdown(a, timeout_ms, errp);
}

json_object *
agent_command(struct agent *a, const char *request, int timeout_ms,
              struct error **errp)
{
    AGENT_NEED(a, command, "pass commands through", NULL);
    return a->ops->command(a, request, timeout_ms, errp);
}

int
agent_exec(struct agent *a, const char *path, const char *const *argv,
           const char *input, int timeout_ms, struct agent_exec_result *res,
           struct error **errp)
{
    memset(res, 0, sizeof(*res));
    AGENT_NEED(a, exec, "run programs", -1);
    return a->ops->exec(a, path, argv, input, timeout_ms, res, errp);
}

bool
agent_is_dead(const struct agent *a)
{
    return a == NULL || (a->ops->is_dead && a->ops->is_dead(a));
}

int
agent_child_fd(const struct agent *a)
{
    return a && a->ops->child_fd ? a->ops->child_fd(a) : -1;
}

struct agent *
agent_reopen_in_child(const struct agent *a, struct error **errp)
{
    AGENT_NEED(a, reopen_in_child, "be used by a watchdog", NULL);
    return a->ops->reopen_in_child(a, errp);
}

void
agent_close(struct agent *a)
{
    if (a) {
        a->ops->close(a);
    }
}

void
agent_exec_result_clear(struct agent_exec_result *res)
{
    if (res) {
        free(res->out);
        free(res->err);
        memset(res, 0, sizeof(*res));
    }
}
