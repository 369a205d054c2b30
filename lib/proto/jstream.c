/* vmsnap: split a byte stream into JSON messages (see jstream.h). */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json_tokener.h>

#include "jstream.h"
#include "xalloc.h"

/* Slack above MAX_MSG that jstream_feed accepts in the buffer: one read's
 * worth of the next messages after a complete one.
 */
#define JSTREAM_FEED_SLACK (64u * 1024)

/* Hard upper bound for MAX_MSG, so that lengths always fit in an int. */
#define JSTREAM_MAX_MSG_LIMIT (1024u * 1024 * 1024)

#define JSTREAM_FF 0xFF

struct jstream {
    struct json_tokener *tok; /* json-c parser state of the open message */
    size_t max_msg;           /* largest message in bytes */
    unsigned flags;           /* JSTREAM_* flags */
    unsigned char *buf;       /* bytes fed and not yet parsed: [pos, len) */
    size_t pos;               /* first unparsed byte in buf */
    size_t len;               /* end of valid bytes in buf */
    size_t cap;               /* allocated size of buf */
    size_t msg_len;           /* bytes of the open message given to tok */
    size_t last_size;         /* bytes of the last message returned */
    unsigned utf8_need;       /* continuation bytes still expected */
    unsigned char utf8_lo;    /* smallest valid next continuation byte */
    unsigned char utf8_hi;    /* largest valid next continuation byte */
    bool in_msg;              /* an object has started and not finished */
    bool skipping;            /* discarding input up to the next 0xFF */
    bool failed;              /* an error was reported; stream unusable */
};

struct jstream *
jstream_new(size_t max_msg, int max_depth, unsigned flags,
            struct error **errp)
{
    struct jstream *js;

    if (max_msg == 0) {
        max_msg = JSTREAM_DEFAULT_MAX_MSG;
    }
    if (max_depth == 0) {
        max_depth = JSTREAM_DEFAULT_MAX_DEPTH;
    }
    if (max_msg > JSTREAM_MAX_MSG_LIMIT || max_depth < 1 ||
        (flags & ~JSTREAM_SENTINEL_FF) != 0) {
        error_setg(errp, ERR_INVALID, "jstream: invalid limits or flags");
        return NULL;
    }
    js = xcalloc(1, sizeof(*js));
    js->tok = xcheck(json_tokener_new_ex(max_depth));
    /* Several messages may share one buffer, so the tokener must stop at
     * the end of an object rather than reject what follows it.  UTF-8 is
     * checked here rather than by json-c (JSON_TOKENER_VALIDATE_UTF8),
     * which rejects a character split between two calls, and also a
     * complete object when an invalid byte follows it in the same call.
     */
    json_tokener_set_flags(js->tok, JSON_TOKENER_STRICT |
                                        JSON_TOKENER_ALLOW_TRAILING_CHARS);
    js->max_msg = max_msg;
    js->flags = flags;
    return js;
}

void
jstream_free(struct jstream *js)
{
    if (js == NULL) {
        return;
    }
    json_tokener_free(js->tok);
    free(js->buf);
    free(js);
}

int
jstream_feed(struct jstream *js, const void *buf, size_t len,
             struct error **errp)
{
    size_t used = js->len - js->pos;
    size_t need, ncap;

    if (len == 0) {
        return 0;
    }
    if (len > js->max_msg + JSTREAM_FEED_SLACK - used) {
        error_setg(errp, ERR_PROTOCOL,
                   "too much unparsed JSON input buffered (%zu bytes)",
                   used + len);
        return -1;
    }
    /* Move the unparsed bytes to the front, then grow if needed. */
    if (js->pos > 0) {
        memmove(js->buf, js->buf + js->pos, used);
        js->pos = 0;
        js->len = used;
    }
    need = used + len;
    if (used == 0 && js->cap > JSTREAM_FEED_SLACK &&
        need <= JSTREAM_FEED_SLACK) {
        /* Give back the memory of an earlier large message. */
        free(js->buf);
        js->buf = NULL;
        js->cap = 0;
    }
    if (need > js->cap) {
        ncap = js->cap ? js->cap : 4096;
        while (ncap < need) {
            ncap *= 2;
        }
        js->buf = xrealloc(js->buf, ncap);
        js->cap = ncap;
    }
    memcpy(js->buf + js->len, buf, len);
    js->len += len;
    return 0;
}

/* Drop the open message, if any, and get ready for the next one. */
static void
jstream_drop_message(struct jstream *js)
{
    json_tokener_reset(js->tok);
    js->in_msg = false;
    js->msg_len = 0;
    js->utf8_need = 0;
}

void
jstream_reset(struct jstream *js)
{
    jstream_drop_message(js);
    js->pos = js->len = 0;
    js->skipping = false;
    js->failed = false;
}

void
jstream_skip_to_sentinel(struct jstream *js)
{
    jstream_drop_message(js);
    js->failed = false;
    js->skipping = true;
}

bool
jstream_in_message(const struct jstream *js)
{
    return js->in_msg;
}

static bool
jstream_is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool
jstream_has_data(const struct jstream *js)
{
    size_t i;

    if (js->skipping) {
        return false;
    }
    if (js->in_msg) {
        return true;
    }
    for (i = js->pos; i < js->len; i++) {
        if (!jstream_is_space(js->buf[i])) {
            return true;
        }
    }
    return false;
}

static enum jstream_result
jstream_fail(struct jstream *js, struct error **errp, const char *what)
{
    js->failed = true;
    jstream_drop_message(js);
    error_setg(errp, ERR_PROTOCOL, "malformed JSON from peer: %s", what);
    return JSTREAM_ERROR;
}

/* Index of the first byte in P[0, N) that ends what may be given to the
 * tokener: a NUL (never valid in JSON text) or, for a sentinel stream,
 * 0xFF.  N when there is none.
 */
static size_t
jstream_find_special(const struct jstream *js, const unsigned char *p,
                     size_t n)
{
    bool ff = (js->flags & JSTREAM_SENTINEL_FF) != 0;
    size_t i;

    for (i = 0; i < n; i++) {
        if (p[i] == 0 || (ff && p[i] == JSTREAM_FF)) {
            break;
        }
    }
    return i;
}

/* Check that P[0, N) continues valid UTF-8 (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF), keeping the state of a sequence
 * split between calls.  Returns false at the first invalid byte.
 */
static bool
jstream_utf8_ok(struct jstream *js, const unsigned char *p, size_t n)
{
    unsigned char c;
    size_t i;

    for (i = 0; i < n; i++) {
        c = p[i];
        if (js->utf8_need > 0) {
            if (c < js->utf8_lo || c > js->utf8_hi) {
                return false;
            }
            js->utf8_need--;
            js->utf8_lo = 0x80;
            js->utf8_hi = 0xBF;
            continue;
        }
        if (c < 0x80) {
            continue;
        }
        js->utf8_lo = 0x80;
        js->utf8_hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            js->utf8_need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            js->utf8_need = 2;
            if (c == 0xE0) {
                js->utf8_lo = 0xA0; /* no overlong forms */
            } else if (c == 0xED) {
                js->utf8_hi = 0x9F; /* no surrogates */
            }
        } else if (c >= 0xF0 && c <= 0xF4) {
            js->utf8_need = 3;
            if (c == 0xF0) {
                js->utf8_lo = 0x90; /* no overlong forms */
            } else if (c == 0xF4) {
                js->utf8_hi = 0x8F; /* nothing above U+10FFFF */
            }
        } else {
            return false;
        }
    }
    return true;
}

enum jstream_result
jstream_next(struct jstream *js, json_object **msg, struct error **errp)
{
    const unsigned char *p, *ff;
    size_t avail, n, special, end;
    bool clipped;
    json_object *obj;
    enum json_tokener_error jerr;

    if (js->failed) {
        error_setg(errp, ERR_PROTOCOL,
                   "JSON stream unusable after an earlier error");
        return JSTREAM_ERROR;
    }
    for (;;) {
        avail = js->len - js->pos;
        if (avail == 0) {
            return JSTREAM_NEED_MORE; /* buf may still be NULL */
        }
        p = js->buf + js->pos;

        if (js->skipping) {
            ff = memchr(p, JSTREAM_FF, avail);
            if (ff == NULL) {
                js->pos = js->len;
                return JSTREAM_NEED_MORE;
            }
            js->pos += (size_t)(ff - p) + 1;
            js->skipping = false;
            return JSTREAM_SENTINEL;
        }

        if (!js->in_msg) {
            if (jstream_is_space(p[0])) {
                js->pos++;
                continue;
            }
            if (p[0] == JSTREAM_FF && (js->flags & JSTREAM_SENTINEL_FF)) {
                js->pos++;
                return JSTREAM_SENTINEL;
            }
            if (p[0] != '{') {
                return jstream_fail(js, errp,
                                    "a message does not start with '{'");
            }
            js->in_msg = true;
            js->msg_len = 0;
        }

        special = jstream_find_special(js, p, avail);
        if (special == 0) {
            if (p[0] == 0) {
                return jstream_fail(js, errp, "NUL byte in a message");
            }
            /* 0xFF in the middle of a message: the agent restarted its
             * output, so the partial message is dropped.
             */
            jstream_drop_message(js);
            js->pos++;
            return JSTREAM_SENTINEL;
        }
        n = special;
        clipped = false;
        if (n > js->max_msg - js->msg_len) {
            n = js->max_msg - js->msg_len;
            clipped = true;
            if (n == 0) {
                return jstream_fail(js, errp, "message too large");
            }
        }

        obj = json_tokener_parse_ex(js->tok, (const char *)p, (int)n);
        if (obj != NULL) {
            end = json_tokener_get_parse_end(js->tok);
            if (end > n) {
                end = n;
            }
            if (!jstream_utf8_ok(js, p, end)) {
                json_object_put(obj);
                return jstream_fail(js, errp, "invalid UTF-8");
            }
            js->pos += end;
            js->last_size = js->msg_len + end;
            jstream_drop_message(js);
            if (!json_object_is_type(obj, json_type_object)) {
                json_object_put(obj);
                return jstream_fail(js, errp, "a message is not an object");
            }
            *msg = obj;
            return JSTREAM_MESSAGE;
        }
        jerr = json_tokener_get_error(js->tok);
        if (jerr != json_tokener_continue) {
            return jstream_fail(js, errp,
                                clipped ? "message too large"
                                        : json_tokener_error_desc(jerr));
        }
        if (!jstream_utf8_ok(js, p, n)) {
            return jstream_fail(js, errp, "invalid UTF-8");
        }
        js->pos += n;
        js->msg_len += n;
        if (clipped) {
            return jstream_fail(js, errp, "message too large");
        }
    }
}

size_t
jstream_message_size(const struct jstream *js)
{
    return js->last_size;
}
