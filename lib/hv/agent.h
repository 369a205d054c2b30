/* vmsnap: the guest agent interface.
 *
 * A guest agent is reached either directly on the QEMU chardev socket
 * (agent-qga.c, for the qemu driver) or through the hypervisor that owns
 * that socket (libvirt's virDomainFSFreeze and qemu-agent-command).  The
 * services and quiesce.c see only this interface; hv_agent_open (hv.h)
 * returns the right kind for a domain.
 *
 * Every call blocks for at most its TIMEOUT_MS.  An agent belongs to one
 * thread at a time.  Errors: ERR_TIMEOUT (no answer in time; the
 * connection is resynchronised before the next call), ERR_PEER (the agent
 * answered with an error, its text in the message, escaped), ERR_PROTOCOL
 * and ERR_IO (the channel broke; agent_is_dead may then be true).
 */
#ifndef VMSNAP_AGENT_H
#define VMSNAP_AGENT_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "error.h"

#define AGENT_OPS_VERSION 1

struct agent;

enum agent_freeze_state {
    AGENT_THAWED = 0,
    AGENT_FROZEN = 1,
};

/* What a guest program run by agent_exec did.  Clear with
 * agent_exec_result_clear.
 */
struct agent_exec_result {
    char *out;          /* stdout, NUL-terminated (may hold NULs), owned */
    size_t out_len;     /* bytes in out */
    char *err;          /* stderr, likewise */
    size_t err_len;     /* bytes in err */
    int exitcode;       /* exit status, or -1 when killed by a signal */
    int signal;         /* the signal that killed it, or 0 */
    bool out_truncated; /* the agent cut stdout */
    bool err_truncated; /* the agent cut stderr */
};

struct agent_ops {
    int version;            /* AGENT_OPS_VERSION it implements */
    const char *name;       /* "qga", "libvirt" */

    /* guest-ping. */
    int (*ping)(struct agent *a, int timeout_ms, struct error **errp);

    /* guest-fsfreeze-freeze, hooks included: returns the number of
     * filesystems frozen.  On an error the guest may be partly frozen:
     * the caller thaws.
     */
    int (*freeze)(struct agent *a, int timeout_ms, struct error **errp);

    /* guest-fsfreeze-thaw: returns the number of filesystems thawed. */
    int (*thaw)(struct agent *a, int timeout_ms, struct error **errp);

    /* guest-fsfreeze-status: AGENT_THAWED or AGENT_FROZEN. */
    int (*status)(struct agent *a, int timeout_ms, struct error **errp);

    /* guest-shutdown (powerdown); sends no reply when it works, so a
     * timeout is success.
     */
    int (*shutdown)(struct agent *a, int timeout_ms, struct error **errp);

    /* Any command, given as the JSON text of a whole request
     * ({"execute": ..., "arguments": ...}); returns its "return" value
     * (caller puts).
     */
    json_object *(*command)(struct agent *a, const char *request,
                            int timeout_ms, struct error **errp);

    /* Run PATH in the guest with the arguments ARGV (those after the
     * program's name, NULL-terminated, or NULL for none), feeding INPUT
     * (or NULL) on stdin, and wait for it to exit.  A non-zero exit is a
     * success of this call.
     */
    int (*exec)(struct agent *a, const char *path, const char *const *argv,
                const char *input, int timeout_ms,
                struct agent_exec_result *res, struct error **errp);

    /* True once the channel is gone for good (QEMU died, libvirt lost the
     * domain): nothing more will work.
     */
    bool (*is_dead)(const struct agent *a);

    /* For a child process forked from the one that opened A (the
     * quiesce watchdog), which closes every descriptor it does not need:
     * child_fd names the one descriptor of A the child must keep (the
     * agent socket, for qga), or -1 (libvirt: the child connects anew).
     * reopen_in_child, called in that child, returns an agent the child
     * can use on its own; the parent's A must not be used there.
     */
    int (*child_fd)(const struct agent *a);
    struct agent *(*reopen_in_child)(const struct agent *a,
                                     struct error **errp);

    /* Free A and its connection; never fails. */
    void (*close)(struct agent *a);

    /* Methods above are valid for version 1. */
};

/* Every agent starts with this header; implementations embed it first. */
struct agent {
    const struct agent_ops *ops;
};

/* The calls (a NULL agent or method is ERR_INVALID "the agent cannot
 * VERB").
 */
int agent_ping(struct agent *a, int timeout_ms, struct error **errp);
int agent_freeze(struct agent *a, int timeout_ms, struct error **errp);
int agent_thaw(struct agent *a, int timeout_ms, struct error **errp);
int agent_status(struct agent *a, int timeout_ms, struct error **errp);
int agent_shutdown(struct agent *a, int timeout_ms, struct error **errp);
json_object *agent_command(struct agent *a, const char *request,
                           int timeout_ms, struct error **errp);
int agent_exec(struct agent *a, const char *path, const char *const *argv,
               const char *input, int timeout_ms,
               struct agent_exec_result *res, struct error **errp);
bool agent_is_dead(const struct agent *a);
int agent_child_fd(const struct agent *a);
struct agent *agent_reopen_in_child(const struct agent *a,
                                    struct error **errp);

/* Close A; NULL is allowed. */
void agent_close(struct agent *a);

/* Free the buffers of RES and zero it; NULL is allowed. */
void agent_exec_result_clear(struct agent_exec_result *res);

/* How an agent is opened (hv_agent_open, agent_qga_connect). */
enum agent_open_flags {
    /* Connect and ask the agent to synchronise, but leave the wait for
     * its answer to the first call (within that call's timeout), for a
     * caller with other work to do first: it hides the agent's delay in
     * noticing a new client (qga.h qga_connect_start).  Only the first
     * call can then tell that the agent does not answer.
     */
    AGENT_OPEN_SYNC_LATER = 1 << 0,
};

/* An agent over a qemu-ga chardev socket at SOCK_PATH (agent-qga.c),
 * connected and synchronised within TIMEOUT_MS (FLAGS: agent_open_flags).
 */
struct agent *agent_qga_connect(const char *sock_path, int timeout_ms,
                                unsigned flags, struct error **errp);

#endif
