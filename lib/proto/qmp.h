/* vmsnap: QEMU Machine Protocol client.
 *
 * One struct qmp is one monitor connection (QEMU's -qmp or -chardev
 * socket + -mon mode=control).  On connection QEMU sends a greeting
 * {"QMP": {"version": ..., "capabilities": [...]}} and accepts only
 * qmp_capabilities until that is done; qmp_connect and qmp_new_fd do this
 * handshake (docs/interop/qmp-spec.rst, "Capabilities Negotiation").
 *
 * Commands are synchronous: qmp_execute sends {"execute", "arguments",
 * "id"} and reads until the reply carrying the same id.  Asynchronous
 * events ({"event", "data", "timestamp"}) that arrive meanwhile are kept
 * in a queue bounded in count (QMP_MAX_EVENTS) and in bytes
 * (QMP_MAX_EVENT_BYTES, as sent), whose oldest events are dropped with a
 * warning when it is full, for qmp_wait_event.
 *
 * Errors: ERR_TIMEOUT when the deadline passes, ERR_PROTOCOL for
 * malformed input or a closed connection, ERR_PEER for an error reply
 * (error_peer_class gives QMP's class, e.g. "GenericError",
 * "CommandNotFound", "DeviceNotFound"), ERR_IO for socket failures.  After
 * a protocol error, an I/O error or a command timeout the connection is
 * marked broken and every later call fails at once with ERR_PROTOCOL.
 *
 * Every call blocks for at most its timeout (a negative timeout means no
 * limit).  A struct qmp is not thread-safe.  With VMSNAP_DEBUG=qmp every
 * message sent and received is logged.
 */
#ifndef VMSNAP_QMP_H
#define VMSNAP_QMP_H

#include <stdbool.h>

#include <json-c/json.h>

#include "error.h"

/* Largest message accepted from QEMU, and the deepest nesting. */
#define QMP_MAX_MESSAGE (4 * 1024 * 1024)
#define QMP_MAX_DEPTH 64

/* Events kept while nobody waits for them, and the bytes they may take
 * together (a hostile QEMU must not make us hold QMP_MAX_EVENTS events
 * of QMP_MAX_MESSAGE bytes each).
 */
#define QMP_MAX_EVENTS 1000
#define QMP_MAX_EVENT_BYTES (8 * 1024 * 1024)

struct qmp;

/* Connect to the QMP unix socket SOCK_PATH (retrying while it does not
 * exist yet or refuses, since QEMU may still be starting), read the
 * greeting and negotiate capabilities, all within TIMEOUT_MS.  Returns a
 * new connection the caller closes with qmp_close, or NULL with errp set.
 */
struct qmp *qmp_connect(const char *sock_path, int timeout_ms,
                        struct error **errp);

/* As qmp_connect over FD, an already connected stream socket.  Takes
 * ownership of FD: it is closed by qmp_close, or at once on failure.
 */
struct qmp *qmp_new_fd(int fd, int timeout_ms, struct error **errp);

/* Close the connection and free Q, its greeting and queued events.  NULL
 * is allowed.
 */
void qmp_close(struct qmp *q);

/* The socket descriptor, owned by Q (for poll loops; do not read it). */
int qmp_fd(const struct qmp *q);

/* The greeting object QEMU sent, {"QMP": {...}}.  Borrowed: valid until
 * qmp_close.
 */
json_object *qmp_greeting(const struct qmp *q);

/* True when an earlier failure made the connection unusable. */
bool qmp_is_broken(const struct qmp *q);

/* Run COMMAND with ARGS (a JSON object, borrowed, or NULL for none) and
 * wait at most TIMEOUT_MS for its reply.  Returns a new reference to the
 * reply's "return" value (never NULL on success; the caller puts it), or
 * NULL with errp set: ERR_PEER "COMMAND: desc" for an error reply, which
 * leaves the connection usable; ERR_TIMEOUT, ERR_PROTOCOL ("QMP connection
 * closed" at end of file) or ERR_IO, which break it.  Replies with another
 * id are dropped; events are queued.
 */
json_object *qmp_execute(struct qmp *q, const char *command,
                         json_object *args, int timeout_ms,
                         struct error **errp);

/* Wait at most TIMEOUT_MS for the event NAME ("JOB_STATUS_CHANGE",
 * "BLOCK_JOB_COMPLETED", ...; NULL: any name) for which MATCH (if not
 * NULL) returns true,
 * looking first in the queue, oldest first.  MATCH gets the whole event
 * object (borrowed) and OPAQUE.  On success returns 0, removes the event
 * from the queue and stores it in *EV_OUT (a reference the caller puts; if
 * EV_OUT is NULL the event is dropped).  Other events that arrive are
 * queued.  Returns -1 with ERR_TIMEOUT (the connection stays usable),
 * ERR_PROTOCOL or ERR_IO (the connection is broken).
 */
int qmp_wait_event(struct qmp *q, const char *name,
                   bool (*match)(json_object *ev, void *opaque), void *opaque,
                   int timeout_ms, json_object **ev_out, struct error **errp);

/* Number of events in the queue. */
int qmp_queued_events(const struct qmp *q);

#endif
