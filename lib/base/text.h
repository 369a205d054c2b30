/* vmsnap: untrusted text: checking names when they come in, writing JSON
 * strings that are valid whatever their bytes (audit M1, L3).  Escaping
 * for a terminal is escape.h's.
 *
 * Every function is pure (no I/O, no global state), thread-safe and
 * never blocks.
 */
#ifndef VMSNAP_TEXT_H
#define VMSNAP_TEXT_H

#include <stddef.h>

#include "dynbuf.h"
#include "error.h"

/* Longest name text_valid_name accepts, in bytes (the catalog's). */
#define TEXT_NAME_MAX 255

/* Check S as a name shown to people: at most TEXT_NAME_MAX bytes, valid
 * UTF-8, no control character, no bidirectional control.  S may be empty
 * (whether a name is required is the caller's business) but not NULL.
 * Returns 0, or -1 with ERR_INVALID saying what is wrong and where ("holds
 * the control character \x1b at byte 3"); the message never repeats S.
 */
int text_valid_name(const char *s, struct error **errp);

/* Append the LEN bytes of S to B as one JSON string (RFC 8259), quotes
 * included.  The result is always valid JSON and valid UTF-8, whatever
 * the bytes: '"' and '\' are escaped, control characters become \n, \r,
 * \t, \b, \f or \u00XX, DEL and the bidirectional controls \u007f and
 * \u202e..., U+2028 and U+2029 \u2028 and \u2029 (so that the text is
 * also safe inside JavaScript), and each byte of invalid UTF-8 becomes
 * U+FFFD, written \ufffd.  Other characters are written as UTF-8.
 * Returns 0, or -1 with the error of dynbuf_add when B's cap is reached.
 */
int text_json_string(struct dynbuf *b, const void *s, size_t len,
                     struct error **errp);

#endif
