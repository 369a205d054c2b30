/* vmsnap: split a byte stream into JSON messages (see jstream.h).
 *
 * Framing is ours: a scanner walks the bytes of the open message once,
 * tracking string state and bracket depth, and checks UTF-8, size and
 * depth as it goes.  When the depth returns to zero the message's bytes
 * are complete, and json-c parses them in one call.  So json-c never
 * sees a message in pieces, and how the peer's writes were cut cannot
 * change the result (json-c 0.16's incremental lexer parses a number
 * split across two calls differently from the same number whole: audit
 * L1, "{\"a\": 12-3}").
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json_tokener.h>

#include "dynbuf.h"
#include "jstream.h"
#include "xalloc.h"

/* Slack above MAX_MSG that jstream_feed accepts in the buffer: one read's
 * worth of the next messages after a complete one.
 */
#define JSTREAM_FEED_SLACK (64u * 1024)

/* Hard upper bound for MAX_MSG, so that the buffer's cap stays within
 * DYNBUF_MAX_CAP and lengths fit in an int.
 */
#define JSTREAM_MAX_MSG_LIMIT (512u * 1024 * 1024)

#define JSTREAM_FF 0xFF

/* What the scanner is in, within the open message. */
enum jstream_lex {
    JSTREAM_LEX_VALUE,  /* between tokens, or in a number or a word */
    JSTREAM_LEX_STRING, /* inside a string */
    JSTREAM_LEX_ESCAPE, /* inside a string, after a backslash */
};

struct jstream {
    struct json_tokener *tok; /* parses one complete message at a time */
    struct dynbuf in;         /* bytes fed and not yet consumed */
    size_t pos;               /* first byte of in not yet consumed; the
                               * open message, if any, starts here */
    size_t max_msg;           /* largest message in bytes */
    int max_depth;            /* deepest nesting */
    unsigned flags;           /* JSTREAM_* flags */
    size_t scanned;           /* bytes of the open message scanned */
    int depth;                /* brackets open in the open message */
    enum jstream_lex lex;     /* scanner state at byte pos + scanned */
    unsigned utf8_need;       /* continuation bytes still expected */
    unsigned char utf8_lo;    /* smallest valid next continuation byte */
    unsigned char utf8_hi;    /* largest valid next continuation byte */
    size_t last_size;         /* bytes of the last message returned */
    bool big;                 /* a message larger than the slack was
                               * returned since the buffer was freed */
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
    /* Strict JSON.  UTF-8 is checked by the scanner, which also sees
     * 0xFF sentinels and NUL bytes before json-c could.
     */
    json_tokener_set_flags(js->tok, JSON_TOKENER_STRICT);
    dynbuf_init(&js->in, max_msg + JSTREAM_FEED_SLACK);
    js->max_msg = max_msg;
    js->max_depth = max_depth;
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
    dynbuf_reset(&js->in);
    free(js);
}

int
jstream_feed(struct jstream *js, const void *buf, size_t len,
             struct error **errp)
{
    if (len == 0) {
        return 0;
    }
    /* Consumed bytes go; an empty buffer gives back the memory of an
     * earlier large message.
     */
    dynbuf_consume(&js->in, js->pos);
    js->pos = 0;
    if (dynbuf_len(&js->in) == 0 && js->big) {
        dynbuf_reset(&js->in);
        js->big = false;
    }
    if (len > dynbuf_room(&js->in)) {
        error_setg(errp, ERR_PROTOCOL,
                   "too much unparsed JSON input buffered (%zu bytes)",
                   dynbuf_len(&js->in) + len);
        return -1;
    }
    dynbuf_add(&js->in, buf, len, NULL); /* fits: checked above */
    return 0;
}

/* Forget the open message, if any: its bytes stay in the buffer (from
 * pos) until consumed.
 */
static void
jstream_drop_message(struct jstream *js)
{
    js->in_msg = false;
    js->scanned = 0;
    js->depth = 0;
    js->lex = JSTREAM_LEX_VALUE;
    js->utf8_need = 0;
}

void
jstream_reset(struct jstream *js)
{
    jstream_drop_message(js);
    dynbuf_truncate(&js->in, 0);
    js->pos = 0;
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

/* The bytes fed and not yet consumed. */
static const unsigned char *
jstream_data(const struct jstream *js)
{
    return (const unsigned char *)dynbuf_str(&js->in) + js->pos;
}

static size_t
jstream_avail(const struct jstream *js)
{
    return dynbuf_len(&js->in) - js->pos;
}

bool
jstream_has_data(const struct jstream *js)
{
    const unsigned char *p = jstream_data(js);
    size_t i, n = jstream_avail(js);

    if (js->skipping) {
        return false;
    }
    if (js->in_msg) {
        return true;
    }
    for (i = 0; i < n; i++) {
        if (!jstream_is_space(p[i])) {
            return true;
        }
    }
    return false;
}

size_t
jstream_message_size(const struct jstream *js)
{
    return js->last_size;
}

static enum jstream_result
jstream_fail(struct jstream *js, struct error **errp, const char *what)
{
    js->failed = true;
    jstream_drop_message(js);
    error_setg(errp, ERR_PROTOCOL, "malformed JSON from peer: %s", what);
    return JSTREAM_ERROR;
}

/* True if C may appear outside strings in JSON text: structure,
 * whitespace, numbers and the letters of true, false and null.  Anything
 * else fails at once, without waiting for the message to end.
 */
static bool
jstream_value_byte_ok(unsigned char c)
{
    return c != '\0' && ((c >= '0' && c <= '9') ||
                         strchr("{}[]:,\"-+.eE \t\r\ntrufalsn", c) != NULL);
}

/* Take byte C of a string through the UTF-8 check (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), keeping the state of a
 * sequence split between feeds.  Returns false at an invalid byte.
 */
static bool
jstream_utf8_ok(struct jstream *js, unsigned char c)
{
    if (js->utf8_need > 0) {
        if (c < js->utf8_lo || c > js->utf8_hi) {
            return false;
        }
        js->utf8_need--;
        js->utf8_lo = 0x80;
        js->utf8_hi = 0xBF;
        return true;
    }
    if (c < 0x80) {
        return true;
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
    return true;
}

/* Outcome of scanning one byte of the open message. */
enum jstream_scan {
    JSTREAM_SCAN_MORE,  /* the message goes on */
    JSTREAM_SCAN_END,   /* this byte closed the message */
    JSTREAM_SCAN_FF,    /* a sentinel: drop the message */
    JSTREAM_SCAN_ERROR, /* invalid; *what says why */
};

static enum jstream_scan
jstream_scan_byte(struct jstream *js, unsigned char c, const char **what)
{
    if (c == JSTREAM_FF && (js->flags & JSTREAM_SENTINEL_FF)) {
        /* The agent restarted its output mid-message. */
        return JSTREAM_SCAN_FF;
    }
    if (c == 0) {
        *what = "NUL byte in a message";
        return JSTREAM_SCAN_ERROR;
    }
    if (js->lex != JSTREAM_LEX_VALUE) {
        if (!jstream_utf8_ok(js, c)) {
            *what = "invalid UTF-8";
            return JSTREAM_SCAN_ERROR;
        }
        if (js->lex == JSTREAM_LEX_ESCAPE) {
            js->lex = JSTREAM_LEX_STRING;
        } else if (c == '\\') {
            js->lex = JSTREAM_LEX_ESCAPE;
        } else if (c == '"') {
            js->lex = JSTREAM_LEX_VALUE;
        }
        return JSTREAM_SCAN_MORE;
    }
    if (!jstream_value_byte_ok(c)) {
        *what = c >= 0x80 ? "invalid UTF-8" : "unexpected character";
        return JSTREAM_SCAN_ERROR;
    }
    switch (c) {
    case '"':
        js->lex = JSTREAM_LEX_STRING;
        break;
    case '{':
    case '[':
        if (++js->depth > js->max_depth) {
            *what = "nesting too deep";
            return JSTREAM_SCAN_ERROR;
        }
        break;
    case '}':
    case ']':
        if (--js->depth == 0) {
            return JSTREAM_SCAN_END;
        }
        break;
    default:
        break;
    }
    return JSTREAM_SCAN_MORE;
}

/* Parse the N complete bytes of the message at P in one call. */
static enum jstream_result
jstream_parse(struct jstream *js, const unsigned char *p, size_t n,
              json_object **msg, struct error **errp)
{
    enum json_tokener_error jerr;
    json_object *obj;

    json_tokener_reset(js->tok);
    obj = json_tokener_parse_ex(js->tok, (const char *)p, (int)n);
    jerr = json_tokener_get_error(js->tok);
    if (obj == NULL || jerr != json_tokener_success ||
        json_tokener_get_parse_end(js->tok) != n ||
        !json_object_is_type(obj, json_type_object)) {
        json_object_put(obj);
        return jstream_fail(js, errp,
                            jerr != json_tokener_success &&
                                    jerr != json_tokener_continue
                                ? json_tokener_error_desc(jerr)
                                : "a message is not one JSON object");
    }
    js->pos += n;
    js->last_size = n;
    if (n > JSTREAM_FEED_SLACK) {
        js->big = true;
    }
    jstream_drop_message(js);
    *msg = obj;
    return JSTREAM_MESSAGE;
}

enum jstream_result
jstream_next(struct jstream *js, json_object **msg, struct error **errp)
{
    const unsigned char *p, *ff;
    const char *what = NULL;
    size_t avail;

    if (js->failed) {
        error_setg(errp, ERR_PROTOCOL,
                   "JSON stream unusable after an earlier error");
        return JSTREAM_ERROR;
    }
    for (;;) {
        p = jstream_data(js);
        avail = jstream_avail(js);

        if (js->skipping) {
            ff = memchr(p, JSTREAM_FF, avail);
            if (ff == NULL) {
                js->pos += avail;
                return JSTREAM_NEED_MORE;
            }
            js->pos += (size_t)(ff - p) + 1;
            js->skipping = false;
            return JSTREAM_SENTINEL;
        }
        if (js->in_msg) {
            break;
        }
        if (avail == 0) {
            return JSTREAM_NEED_MORE;
        }
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
    }

    /* Scan on from where the last call stopped. */
    while (js->scanned < avail) {
        if (js->scanned == js->max_msg) {
            return jstream_fail(js, errp, "message too large");
        }
        switch (jstream_scan_byte(js, p[js->scanned++], &what)) {
        case JSTREAM_SCAN_MORE:
            break;
        case JSTREAM_SCAN_END:
            return jstream_parse(js, p, js->scanned, msg, errp);
        case JSTREAM_SCAN_FF:
            js->pos += js->scanned;
            jstream_drop_message(js);
            return JSTREAM_SENTINEL;
        case JSTREAM_SCAN_ERROR:
            return jstream_fail(js, errp, what);
        }
    }
    return JSTREAM_NEED_MORE;
}
