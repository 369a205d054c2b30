/* vmsnap: untrusted text: checking names, escaping for output (see
 * text.h).
 */
#include <stdio.h>
#include <string.h>

#include "text.h"
#include "xalloc.h"

/* Longest input text_escape_mem escapes whole. */
#define TEXT_ESCAPE_MAX (DYNBUF_MAX_CAP / 4 - 1)

size_t
text_utf8_next(const void *p, size_t n, uint32_t *cp)
{
    const unsigned char *s = p;
    unsigned char lo = 0x80, hi = 0xBF;
    size_t len, i;
    uint32_t v;

    if (n == 0) {
        return 0;
    }
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
        v = s[0] & 0x1F;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        v = s[0] & 0x0F;
        if (s[0] == 0xE0) {
            lo = 0xA0; /* no overlong forms */
        } else if (s[0] == 0xED) {
            hi = 0x9F; /* no surrogates */
        }
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        v = s[0] & 0x07;
        if (s[0] == 0xF0) {
            lo = 0x90; /* no overlong forms */
        } else if (s[0] == 0xF4) {
            hi = 0x8F; /* nothing above U+10FFFF */
        }
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    for (i = 1; i < len; i++) {
        if (s[i] < lo || s[i] > hi) {
            return 0;
        }
        v = v << 6 | (s[i] & 0x3F);
        lo = 0x80;
        hi = 0xBF;
    }
    *cp = v;
    return len;
}

bool
text_utf8_valid(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint32_t cp;
    size_t k;

    while (n > 0) {
        k = text_utf8_next(s, n, &cp);
        if (k == 0) {
            return false;
        }
        s += k;
        n -= k;
    }
    return true;
}

static bool
text_is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

static bool
text_is_bidi(uint32_t cp)
{
    return cp == 0x061C || cp == 0x200E || cp == 0x200F ||
           (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

/* What makes text unsafe to print. */
enum text_flaw {
    TEXT_FLAW_NONE,    /* nothing: safe */
    TEXT_FLAW_UTF8,    /* a byte that is not valid UTF-8 */
    TEXT_FLAW_CONTROL, /* a control character */
    TEXT_FLAW_BIDI,    /* a bidirectional control */
};

/* Find the first flaw in the N bytes of S: its kind, its byte offset in
 * *AT and its code point (or byte, for invalid UTF-8) in *CP.
 */
static enum text_flaw
text_first_flaw(const char *s, size_t n, size_t *at, uint32_t *cp)
{
    size_t i = 0, k;

    for (; i < n; i += k) {
        *at = i;
        k = text_utf8_next(s + i, n - i, cp);
        if (k == 0) {
            *cp = (unsigned char)s[i];
            return TEXT_FLAW_UTF8;
        }
        if (text_is_control(*cp)) {
            return TEXT_FLAW_CONTROL;
        }
        if (text_is_bidi(*cp)) {
            return TEXT_FLAW_BIDI;
        }
    }
    return TEXT_FLAW_NONE;
}

int
text_valid_name(const char *s, struct error **errp)
{
    size_t n = strlen(s), at = 0;
    uint32_t cp = 0;

    if (n > TEXT_NAME_MAX) {
        error_setg(errp, ERR_INVALID, "longer than %d bytes", TEXT_NAME_MAX);
        return -1;
    }
    switch (text_first_flaw(s, n, &at, &cp)) {
    case TEXT_FLAW_NONE:
        return 0;
    case TEXT_FLAW_UTF8:
        error_setg(errp, ERR_INVALID,
                   "not valid UTF-8 (byte \\x%02x at %zu)", (unsigned)cp,
                   at);
        break;
    case TEXT_FLAW_CONTROL:
        error_setg(errp, ERR_INVALID,
                   "holds the control character U+%04X at byte %zu",
                   (unsigned)cp, at);
        break;
    case TEXT_FLAW_BIDI:
        error_setg(errp, ERR_INVALID,
                   "holds the bidirectional control U+%04X at byte %zu",
                   (unsigned)cp, at);
        break;
    }
    return -1;
}

char *
text_escape_mem(const void *p, size_t len)
{
    const unsigned char *s = p;
    struct dynbuf b;
    size_t i = 0, k, j;
    uint32_t cp;

    /* At most four bytes out per byte in, so the cap is never reached;
     * beyond a quarter of the largest cap, the input is cut.
     */
    if (len > TEXT_ESCAPE_MAX) {
        len = TEXT_ESCAPE_MAX;
    }
    dynbuf_init(&b, len * 4 + 1);
    while (i < len) {
        k = text_utf8_next(s + i, len - i, &cp);
        if (k == 1 && cp == '\\') {
            dynbuf_add_str(&b, "\\\\", NULL);
        } else if (k == 1 && cp == '\n') {
            dynbuf_add_str(&b, "\\n", NULL);
        } else if (k == 1 && cp == '\r') {
            dynbuf_add_str(&b, "\\r", NULL);
        } else if (k == 1 && cp == '\t') {
            dynbuf_add_str(&b, "\\t", NULL);
        } else if (k == 0 || text_is_control(cp) || text_is_bidi(cp)) {
            /* One escape per byte: an invalid byte alone, or every byte
             * of a control or bidirectional character.
             */
            for (j = 0; j < (k == 0 ? 1 : k); j++) {
                dynbuf_printf(&b, NULL, "\\x%02x", s[i + j]);
            }
            k = k == 0 ? 1 : k;
        } else {
            dynbuf_add(&b, s + i, k, NULL);
        }
        i += k;
    }
    return dynbuf_take(&b, NULL, NULL);
}

char *
text_escape(const char *s)
{
    return s != NULL ? text_escape_mem(s, strlen(s)) : xstrdup("");
}

bool
text_is_safe(const char *s)
{
    size_t at;
    uint32_t cp;

    return text_first_flaw(s, strlen(s), &at, &cp) == TEXT_FLAW_NONE;
}

char *
text_safe(const char *s)
{
    if (s == NULL) {
        return xstrdup("");
    }
    return text_is_safe(s) ? xstrdup(s) : text_escape(s);
}

int
text_json_string(struct dynbuf *b, const void *p, size_t len,
                 struct error **errp)
{
    const unsigned char *s = p;
    size_t i = 0, k;
    uint32_t cp;
    int r = dynbuf_add_byte(b, '"', 1, errp);

    while (r == 0 && i < len) {
        k = text_utf8_next(s + i, len - i, &cp);
        if (k == 0) {
            r = dynbuf_add_str(b, "\\ufffd", errp);
            k = 1;
        } else if (cp == '"' || cp == '\\') {
            r = dynbuf_printf(b, errp, "\\%c", (char)cp);
        } else if (cp == '\n') {
            r = dynbuf_add_str(b, "\\n", errp);
        } else if (cp == '\r') {
            r = dynbuf_add_str(b, "\\r", errp);
        } else if (cp == '\t') {
            r = dynbuf_add_str(b, "\\t", errp);
        } else if (cp == '\b') {
            r = dynbuf_add_str(b, "\\b", errp);
        } else if (cp == '\f') {
            r = dynbuf_add_str(b, "\\f", errp);
        } else if (text_is_control(cp) || text_is_bidi(cp) || cp == 0x2028 ||
                   cp == 0x2029) {
            r = dynbuf_printf(b, errp, "\\u%04x", (unsigned)cp);
        } else {
            r = dynbuf_add(b, s + i, k, errp);
        }
        i += k;
    }
    return r == 0 ? dynbuf_add_byte(b, '"', 1, errp) : -1;
}
