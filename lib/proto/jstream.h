/* vmsnap: split a byte stream into JSON messages.
 *
 * QMP and the guest agent protocol send one JSON object after another on a
 * stream socket, with no framing: a message may be spread over many reads
 * and lines (QEMU's pretty=on output), and one read may carry several
 * messages.  A jstream takes the bytes as they come (jstream_feed) and
 * hands out complete top-level objects one at a time (jstream_next).
 *
 * Framing is done here, not by json-c: a scanner finds where each
 * object ends (strings, escapes and bracket depth), checks UTF-8, size
 * and depth byte by byte, and rejects at once a byte that cannot appear
 * in JSON outside a string.  Only a complete message is handed to
 * json-c's tokener (strict mode), in one call.  So the result never
 * depends on how the input was cut into feeds: json-c's incremental
 * lexer does not parse a number split between two calls as it parses
 * the same number whole.
 *
 * Limits: a message is at most MAX_MSG bytes and nests at most MAX_DEPTH
 * levels.  Whitespace between messages is skipped.  Anything else that is
 * not a JSON object (arrays, scalars, garbage, NUL bytes) is an ERR_PROTOCOL
 * error, after which the stream stays failed until jstream_reset or
 * jstream_skip_to_sentinel; the caller normally drops the connection.
 *
 * With JSTREAM_SENTINEL_FF, the byte 0xFF (never valid in UTF-8 JSON) is
 * the sentinel of the guest agent's guest-sync-delimited reply: it drops
 * any partial message and is reported as JSTREAM_SENTINEL.
 *
 * A jstream does no I/O and is not thread-safe.
 */
#ifndef VMSNAP_JSTREAM_H
#define VMSNAP_JSTREAM_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "error.h"

/* Defaults for jstream_new. */
#define JSTREAM_DEFAULT_MAX_MSG (4u * 1024 * 1024)
#define JSTREAM_DEFAULT_MAX_DEPTH 64

/* Flags for jstream_new. */
#define JSTREAM_SENTINEL_FF 0x1u /* 0xFF resets the parser (guest agent) */

/* Results of jstream_next. */
enum jstream_result {
    JSTREAM_ERROR = -1,    /* malformed input or limit hit; errp set */
    JSTREAM_NEED_MORE = 0, /* all buffered bytes used; feed more */
    JSTREAM_MESSAGE = 1,   /* *msg is the next complete object */
    JSTREAM_SENTINEL = 2,  /* a 0xFF byte (only with JSTREAM_SENTINEL_FF) */
};

struct jstream;

/* Create a splitter.  MAX_MSG is the largest message in bytes (0 means
 * JSTREAM_DEFAULT_MAX_MSG; at most 512 MiB), MAX_DEPTH the deepest nesting
 * (0 means JSTREAM_DEFAULT_MAX_DEPTH), FLAGS a set of JSTREAM_* flags.
 * Returns a new jstream the caller frees with jstream_free, or NULL with
 * ERR_INVALID (bad limits).
 */
struct jstream *jstream_new(size_t max_msg, int max_depth, unsigned flags,
                            struct error **errp);

/* Free JS and anything it buffers; NULL is allowed. */
void jstream_free(struct jstream *js);

/* Append LEN bytes of BUF to the input.  The caller should drain the
 * stream with jstream_next until JSTREAM_NEED_MORE (or an error) between
 * feeds; the bytes buffered and not yet returned (an open message and
 * what follows it) may not exceed MAX_MSG + 64 KiB.  Returns 0, or -1
 * with ERR_PROTOCOL when that bound would be crossed (nothing is appended
 * then).
 */
int jstream_feed(struct jstream *js, const void *buf, size_t len,
                 struct error **errp);

/* Parse buffered input up to the next event.  Returns JSTREAM_MESSAGE with
 * *MSG set to a new reference to a JSON object (the caller puts it),
 * JSTREAM_SENTINEL, JSTREAM_NEED_MORE, or JSTREAM_ERROR with ERR_PROTOCOL
 * set.  *MSG is only written for JSTREAM_MESSAGE.
 */
enum jstream_result jstream_next(struct jstream *js, json_object **msg,
                                 struct error **errp);

/* Bytes of the last message jstream_next returned, from its '{' to its
 * '}' (whitespace around it excluded).
 */
size_t jstream_message_size(const struct jstream *js);

/* Forget everything: buffered bytes, any partial message, a failed state,
 * and skip mode.
 */
void jstream_reset(struct jstream *js);

/* Drop any partial message, clear a failed state, and discard input up
 * to and including the next 0xFF, which jstream_next then reports as
 * JSTREAM_SENTINEL.  Buffered bytes not yet returned are searched too
 * (after an error inside a message, from that message's start: the bytes
 * scanned before the error hold no 0xFF, which would have ended it).
 * Used to
 * resynchronise with the guest agent: whatever precedes its sentinel is
 * stale.  Only meaningful with JSTREAM_SENTINEL_FF (without it, every
 * byte is dropped until jstream_reset).
 */
void jstream_skip_to_sentinel(struct jstream *js);

/* True when bytes of an unfinished message have been received, so that an
 * end of file now cuts a message in half.
 */
bool jstream_in_message(const struct jstream *js);

/* True when anything but whitespace is buffered or a message is open: the
 * peer has sent something that nobody has read yet.  False in skip mode.
 */
bool jstream_has_data(const struct jstream *js);

#endif
