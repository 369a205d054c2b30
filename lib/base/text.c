/* vmsnap: untrusted text: checking names, writing JSON strings (see
 * text.h).
 */
#include <stdio.h>
#include <string.h>

#include "escape.h"
#include "text.h"

int
text_valid_name(const char *s, struct error **errp)
{
    size_t n = strlen(s), at = 0;
    uint32_t cp = 0;

    if (n > TEXT_NAME_MAX) {
        error_setg(errp, ERR_INVALID, "longer than %d bytes", TEXT_NAME_MAX);
        return -1;
    }
    switch (escape_first_flaw(s, n, &at, &cp)) {
    case ESCAPE_FLAW_NONE:
        return 0;
    case ESCAPE_FLAW_UTF8:
        error_setg(errp, ERR_INVALID,
                   "not valid UTF-8 (byte \\x%02x at %zu)", (unsigned)cp,
                   at);
        break;
    case ESCAPE_FLAW_CONTROL:
        error_setg(errp, ERR_INVALID,
                   "holds the control character U+%04X at byte %zu",
                   (unsigned)cp, at);
        break;
    case ESCAPE_FLAW_BIDI:
        error_setg(errp, ERR_INVALID,
                   "holds the bidirectional control U+%04X at byte %zu",
                   (unsigned)cp, at);
        break;
    }
    return -1;
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
        k = escape_utf8_next(s + i, len - i, &cp);
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
        } else if (escape_is_control(cp) || escape_is_bidi(cp) ||
                   cp == 0x2028 || cp == 0x2029) {
            r = dynbuf_printf(b, errp, "\\u%04x", (unsigned)cp);
        } else {
            r = dynbuf_add(b, s + i, k, errp);
        }
        i += k;
    }
    return r == 0 ? dynbuf_add_byte(b, '"', 1, errp) : -1;
}
