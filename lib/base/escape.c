/* vmsnap: untrusted text made safe to print (see escape.h). */
#include <stdio.h>
#include <string.h>

#include "escape.h"
#include "xalloc.h"

size_t
escape_utf8_next(const void *p, size_t n, uint32_t *cp)
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
escape_utf8_valid(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint32_t cp;
    size_t k;

    while (n > 0) {
        k = escape_utf8_next(s, n, &cp);
        if (k == 0) {
            return false;
        }
        s += k;
        n -= k;
    }
    return true;
}

bool
escape_is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

bool
escape_is_bidi(uint32_t cp)
{
    return cp == 0x061C || cp == 0x200E || cp == 0x200F ||
           (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

/* Find the first flaw in the N bytes of S: its kind, its byte offset in
 * *AT and its code point (or byte, for invalid UTF-8) in *CP.
 */
enum escape_flaw
escape_first_flaw(const char *s, size_t n, size_t *at, uint32_t *cp)
{
    size_t i = 0, k;

    for (; i < n; i += k) {
        *at = i;
        k = escape_utf8_next(s + i, n - i, cp);
        if (k == 0) {
            *cp = (unsigned char)s[i];
            return ESCAPE_FLAW_UTF8;
        }
        if (escape_is_control(*cp)) {
            return ESCAPE_FLAW_CONTROL;
        }
        if (escape_is_bidi(*cp)) {
            return ESCAPE_FLAW_BIDI;
        }
    }
    return ESCAPE_FLAW_NONE;
}

char *
escape_mem(const void *p, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = p;
    size_t i = 0, k, j, o = 0;
    uint32_t cp;
    char *out;

    /* At most four bytes out per byte in. */
    if (len > ESCAPE_MAX) {
        len = ESCAPE_MAX;
    }
    out = xmalloc(len * 4 + 1);
    while (i < len) {
        k = escape_utf8_next(s + i, len - i, &cp);
        if (k == 1 && (cp == '\\' || cp == '\n' || cp == '\r' ||
                       cp == '\t')) {
            out[o++] = '\\';
            out[o++] = cp == '\\' ? '\\' : cp == '\n' ? 'n'
                       : cp == '\r' ? 'r' : 't';
        } else if (k == 0 || escape_is_control(cp) || escape_is_bidi(cp)) {
            /* One escape per byte: an invalid byte alone, or every byte
             * of a control or bidirectional character.
             */
            k = k == 0 ? 1 : k;
            for (j = 0; j < k; j++) {
                out[o++] = '\\';
                out[o++] = 'x';
                out[o++] = hex[s[i + j] >> 4];
                out[o++] = hex[s[i + j] & 0xf];
            }
        } else {
            memcpy(out + o, s + i, k);
            o += k;
        }
        i += k;
    }
    out[o] = '\0';
    return out;
}

char *
escape_text(const char *s)
{
    return s != NULL ? escape_mem(s, strlen(s)) : xstrdup("");
}

bool
escape_is_safe(const char *s)
{
    size_t at;
    uint32_t cp;

    return escape_first_flaw(s, strlen(s), &at, &cp) == ESCAPE_FLAW_NONE;
}

char *
escape_safe(const char *s)
{
    if (s == NULL) {
        return xstrdup("");
    }
    return escape_is_safe(s) ? xstrdup(s) : escape_text(s);
}
