/* vmsnap: JSON messages over a stream socket, with deadlines.
 *
 * The transport shared by the QMP client (qmp.c) and the guest agent
 * client (qga.c): a connected stream socket, a jstream that splits what
 * arrives into messages, and the state of the connection.  It knows
 * nothing of either protocol: greetings, ids, events and
 * guest-sync-delimited stay in their files.
 *
 * Sending: one message is serialised as compact JSON plus a newline, and
 * optionally preceded by the byte 0xFF (which makes the guest agent drop
 * any partial input).  Reading: the next complete message, or the 0xFF
 * sentinel for a stream made with JSTREAM_SENTINEL_FF, within a deadline
 * (an absolute time from sock.h).
 *
 * State.  "closed": the peer has shut its side (end of file seen); no
 * more input will come.  "broken": the owner must not use the connection
 * any more.  Which failures break it depends on the stream:
 * - without JSTREAM_SENTINEL_FF (QMP), the stream cannot be
 *   resynchronised, so every failure of jsock_send or jsock_read except a
 *   read timeout breaks it (part of a message may have gone out, or the
 *   input is in an unknown state);
 * - with JSTREAM_SENTINEL_FF (guest agent), the owner resynchronises
 *   after a failure, so only jsock_break breaks it.
 * End of file always closes it.  jsock_usable tells whether it may be
 * used.
 *
 * Errors: ERR_TIMEOUT when a deadline passes, ERR_PROTOCOL for malformed
 * input (from jstream) or "NAME connection closed" at end of file,
 * ERR_IO for socket failures.
 *
 * With VMSNAP_DEBUG=SUBSYS every message sent and received is logged
 * (log_debug_json), and so is every sentinel.  A jsock is not
 * thread-safe; every call blocks at most until its deadline.
 */
#ifndef VMSNAP_JSOCK_H
#define VMSNAP_JSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "error.h"
#include "jstream.h"

struct jsock;

/* Wrap FD, a connected stream socket; takes ownership of FD (it is
 * closed by jsock_free, or at once on failure).  NAME names the peer in
 * messages ("QMP", "guest agent"), SUBSYS is the debug subsystem ("qmp",
 * "qga"); both are borrowed and must outlive the jsock (use literals).
 * MAX_MSG, MAX_DEPTH and FLAGS are those of jstream_new.  Returns a new
 * jsock, or NULL with ERR_INVALID (bad limits).
 */
struct jsock *jsock_new(int fd, const char *name, const char *subsys,
                        size_t max_msg, int max_depth, unsigned flags,
                        struct error **errp);

/* Close the socket and free S.  NULL is allowed. */
void jsock_free(struct jsock *s);

/* The socket descriptor, owned by S. */
int jsock_fd(const struct jsock *s);

/* Send MSG (borrowed) as one line before DEADLINE, preceded by 0xFF when
 * SENTINEL is true.  Returns 0, or -1 with ERR_TIMEOUT or ERR_IO (some
 * bytes may have gone out).
 */
int jsock_send(struct jsock *s, json_object *msg, bool sentinel,
               int64_t deadline, struct error **errp);

/* Read until the next event before DEADLINE.  Returns JSTREAM_MESSAGE
 * with *MSG set to a new reference (the caller puts it) and, if SIZE is
 * not NULL, *SIZE to the message's length in bytes on the wire;
 * JSTREAM_SENTINEL (only with JSTREAM_SENTINEL_FF); or JSTREAM_ERROR
 * with ERR_TIMEOUT (a partial message stays buffered), ERR_PROTOCOL
 * (malformed input, or "NAME connection closed[ in the middle of a
 * message]" at end of file, which closes the connection) or ERR_IO.
 * Never JSTREAM_NEED_MORE.
 */
enum jstream_result jsock_read(struct jsock *s, int64_t deadline,
                               json_object **msg, size_t *size,
                               struct error **errp);

/* Take in, without blocking, what the peer has already sent (a bounded
 * number of reads) and return true when anything but whitespace is
 * waiting to be read.  End of file closes the connection (and returns
 * false).  Never fails: a read error is left for the next jsock_read.
 */
bool jsock_pending(struct jsock *s);

/* Drop any partial message and discard input up to the next 0xFF (see
 * jstream_skip_to_sentinel).
 */
void jsock_skip_to_sentinel(struct jsock *s);

/* Mark the connection broken: every later jsock_usable fails. */
void jsock_break(struct jsock *s);

/* True once the connection is broken, or closed by the peer. */
bool jsock_is_broken(const struct jsock *s);

/* True once the peer has closed the connection. */
bool jsock_is_closed(const struct jsock *s);

/* Returns 0 when the connection may be used, else -1 with ERR_PROTOCOL
 * "NAME connection is broken after an earlier error" (broken) or "NAME
 * connection closed" (closed by the peer).
 */
int jsock_usable(const struct jsock *s, struct error **errp);

#endif
