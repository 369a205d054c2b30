/* vmsnap: QEMU guest agent client.
 *
 * The agent (qemu-ga) talks JSON over a virtio-serial port that QEMU
 * exposes on the host as a chardev, normally a unix socket.  The protocol
 * is QMP-like but has no greeting, no events and no ids: a request
 * {"execute": NAME, "arguments": {...}} gets exactly one reply,
 * {"return": VALUE} or {"error": {"class": C, "desc": D}}.
 *
 * The channel has no session boundaries: a previous client, or one of our
 * own requests that timed out, may leave half a message or late replies
 * in it.  qga_sync therefore sends 0xFF (which makes the agent drop any
 * partial input) and guest-sync-delimited with a fresh id, then discards
 * everything up to the 0xFF sentinel that precedes the reply echoing that
 * id (qemu qga/qapi-schema.json, guest-sync-delimited).  This happens
 * after connecting and automatically before the next command after any
 * timeout or protocol error.
 *
 * While filesystems are frozen, qemu-ga refuses most commands; only
 * guest-ping, guest-info, guest-sync(-delimited), guest-fsfreeze-status
 * and guest-fsfreeze-thaw are allowed.
 *
 * Errors: ERR_TIMEOUT, ERR_PROTOCOL (malformed input; "guest agent
 * connection closed" at end of file, after which the connection is dead
 * and every call fails), ERR_PEER "COMMAND: desc" for an error reply
 * (error_peer_class gives the class), ERR_IO, ERR_INVALID for bad
 * arguments.  Every call blocks at most its timeout (negative: no limit).
 * A struct qga is not thread-safe.  VMSNAP_DEBUG=qga logs every message.
 */
#ifndef VMSNAP_QGA_H
#define VMSNAP_QGA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "error.h"

/* Largest agent reply accepted, and the deepest nesting. */
#define QGA_MAX_MESSAGE (16 * 1024 * 1024)
#define QGA_MAX_DEPTH 64

/* Largest stdin that qga_exec sends (before base64). */
#define QGA_EXEC_MAX_INPUT (4 * 1024 * 1024)

/* Result of guest-fsfreeze-status. */
enum qga_freeze_state {
    QGA_THAWED = 0, /* "thawed" */
    QGA_FROZEN = 1, /* "frozen" */
};

/* Outcome of qga_exec.  Clear with qga_exec_result_clear. */
struct qga_exec_result {
    char *out;          /* stdout, NUL-terminated (may hold NULs), owned */
    size_t out_len;     /* bytes in out, not counting the final NUL */
    char *err;          /* stderr, NUL-terminated (may hold NULs), owned */
    size_t err_len;     /* bytes in err, not counting the final NUL */
    int exitcode;       /* exit status, or -1 when killed by a signal */
    int signal;         /* signal that killed it, or 0 */
    bool out_truncated; /* the agent cut stdout at its own limit */
    bool err_truncated; /* the agent cut stderr at its own limit */
};

struct qga;

/* Connect to the agent's chardev socket SOCK_PATH (retrying while it does
 * not exist yet or refuses) and synchronise, all within TIMEOUT_MS.  A
 * guest whose agent is not running yet yields ERR_TIMEOUT.  Returns a new
 * connection the caller closes with qga_close, or NULL with errp set.
 */
struct qga *qga_connect(const char *sock_path, int timeout_ms,
                        struct error **errp);

/* As qga_connect, but only connect and send the synchronisation, within
 * TIMEOUT_MS: qga_sync or the first command waits for its reply.  For a
 * caller with other work to do first, which then hides the agent's own
 * delay: qemu-ga polls a virtio-serial port that had no client on the
 * host only every 100 ms (qemu qga/main.c), so a new client's first
 * answer may take that long.
 */
struct qga *qga_connect_start(const char *sock_path, int timeout_ms,
                              struct error **errp);

/* Wrap FD, an already connected stream socket; takes ownership of FD (it
 * is closed by qga_close, or at once on failure).  Does not talk to the
 * agent: the first command synchronises.  Cannot fail with the built-in
 * limits; NULL (ERR_INVALID) would mean they are wrong.
 */
struct qga *qga_new_fd(int fd, struct error **errp);

/* Close the connection and free G.  NULL is allowed. */
void qga_close(struct qga *g);

/* The socket descriptor, owned by G. */
int qga_fd(const struct qga *g);

/* True once the peer has closed the connection: nothing more will work. */
bool qga_is_dead(const struct qga *g);

/* Set the id the next guest-sync-delimited uses (later ones count up from
 * it).  Ids normally start at a random value; tests and fuzzers use this
 * to make the exchange deterministic.
 */
void qga_set_next_sync_id(struct qga *g, int64_t id);

/* Set how qga_exec polls guest-exec-status: first pause FIRST_MS, each
 * next pause 1.5 times longer, at most MAX_MS (defaults: 20 and 200 ms).
 * 0 polls without pausing, for tests and fuzzing.
 */
void qga_set_exec_poll(struct qga *g, int first_ms, int max_ms);

/* Resynchronise the channel (see above) within TIMEOUT_MS.  Returns 0, or
 * -1 with errp set; after a failure the next command syncs again.
 */
int qga_sync(struct qga *g, int timeout_ms, struct error **errp);

/* Run COMMAND with ARGS (a JSON object, borrowed, or NULL) within
 * TIMEOUT_MS, synchronising first if needed.  Returns a new reference to
 * the "return" value (never NULL; the caller puts it), or NULL with errp
 * set.  A timeout or malformed reply makes the next call resync.  Not for
 * commands that never reply (guest-shutdown, guest-suspend-*).
 */
json_object *qga_execute(struct qga *g, const char *command,
                         json_object *args, int timeout_ms,
                         struct error **errp);

/* guest-ping.  Returns 0 or -1. */
int qga_ping(struct qga *g, int timeout_ms, struct error **errp);

/* guest-info: the agent version and its supported commands.  Returns a
 * new reference to the object (the caller puts it), or NULL.
 */
json_object *qga_info(struct qga *g, int timeout_ms, struct error **errp);

/* guest-fsfreeze-status.  Returns QGA_THAWED or QGA_FROZEN, or -1. */
int qga_fsfreeze_status(struct qga *g, int timeout_ms, struct error **errp);

/* guest-fsfreeze-freeze: freeze every freezable filesystem (running the
 * fsfreeze hook first when the agent has one).  Returns the number of
 * filesystems frozen, or -1.  On failure the agent thaws what it froze,
 * but callers should still thaw: the state is what guest-fsfreeze-status
 * says.
 */
int qga_fsfreeze_freeze(struct qga *g, int timeout_ms, struct error **errp);

/* guest-fsfreeze-thaw.  Returns the number of filesystems thawed (0 when
 * none were frozen), or -1.
 */
int qga_fsfreeze_thaw(struct qga *g, int timeout_ms, struct error **errp);

/* guest-get-fsinfo.  Returns a new reference to the array of filesystems
 * (the caller puts it), or NULL.
 */
json_object *qga_get_fsinfo(struct qga *g, int timeout_ms,
                            struct error **errp);

/* Run PATH in the guest with the arguments ARGV (a NULL-terminated list of
 * the arguments after argv[0], or NULL for none) and INPUT (stdin, or NULL
 * for none; at most QGA_EXEC_MAX_INPUT bytes), capture its output and wait
 * for it to exit, all within TIMEOUT_MS (guest-exec, then guest-exec-status
 * polled every 20 ms growing to 200 ms; see qga_set_exec_poll).  On
 * success returns 0 and fills *RES, which the caller clears with
 * qga_exec_result_clear; a non-zero exit status is a success of this
 * call.  On failure returns -1 and leaves *RES cleared.  ERR_TIMEOUT when
 * the process has not exited in time: the agent has no command to kill
 * it, so it keeps running.
 */
int qga_exec(struct qga *g, const char *path, const char *const *argv,
             const char *input, int timeout_ms, struct qga_exec_result *res,
             struct error **errp);

/* Free the buffers of RES and zero it.  NULL is allowed. */
void qga_exec_result_clear(struct qga_exec_result *res);

#endif
