/* vmsnap: untrusted text: checking names, escaping for output.
 *
 * Text that comes from outside (names and properties a user or an
 * imported package gives, a guest agent's or QEMU's error strings, a
 * volume name inside block_device_mapping) can hold anything: escape
 * sequences that retitle or clear a terminal, carriage returns and
 * newlines that forge "vmsnap: ..." lines, bidirectional overrides that
 * make text read differently than it is, bytes that are not UTF-8 and
 * break a JSON consumer (audit M1, L3).  So:
 * - names are checked when they come in (text_valid_name);
 * - every text printed for a person is escaped (text_escape), and every
 *   JSON string written is made valid whatever its bytes
 *   (text_json_string).
 *
 * UTF-8 here is RFC 3629: no overlong forms, no surrogates (U+D800 to
 * U+DFFF), nothing above U+10FFFF.  "Control characters" are C0 (U+0000
 * to U+001F), DEL (U+007F) and C1 (U+0080 to U+009F, which some
 * terminals obey as they obey ESC).  "Bidirectional controls" are U+061C,
 * U+200E, U+200F, U+202A to U+202E and U+2066 to U+2069.
 *
 * Every function is pure (no I/O, no global state), thread-safe and
 * never blocks.  Strings returned are new; the caller frees them.
 */
#ifndef VMSNAP_TEXT_H
#define VMSNAP_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dynbuf.h"
#include "error.h"

/* Longest name text_valid_name accepts, in bytes (the catalog's). */
#define TEXT_NAME_MAX 255

/* Decode the UTF-8 sequence at the start of the N bytes of P.  Returns
 * its length (1 to 4) and stores the code point in *CP, or returns 0 when
 * the bytes are not a valid sequence (or N is 0).
 */
size_t text_utf8_next(const void *p, size_t n, uint32_t *cp);

/* True when the N bytes of P are valid UTF-8 (NUL bytes included). */
bool text_utf8_valid(const void *p, size_t n);

/* Check S as a name shown to people: at most TEXT_NAME_MAX bytes, valid
 * UTF-8, no control character, no bidirectional control.  S may be empty
 * (whether a name is required is the caller's business) but not NULL.
 * Returns 0, or -1 with ERR_INVALID saying what is wrong and where ("holds
 * the control character \x1b at byte 3"); the message never repeats S.
 */
int text_valid_name(const char *s, struct error **errp);

/* A copy of S safe for a terminal and for line-oriented output: valid
 * UTF-8 text stays as it is, except that a backslash becomes "\\",
 * newline "\n", carriage return "\r", tab "\t", and every other control
 * character, bidirectional control and byte of invalid UTF-8 becomes
 * "\xNN" (one per byte, lower-case hex).  So the result is one line of
 * valid UTF-8 with no control characters, and S can be read back from
 * it.  S may be NULL (gives "").  Never returns NULL.
 */
char *text_escape(const char *s);

/* True when S is already safe to print as one line: valid UTF-8 with no
 * control character and no bidirectional control.
 */
bool text_is_safe(const char *s);

/* S itself when it is safe (text_is_safe), else text_escape (S), as a new
 * string.  For messages shown to people, where a backslash in ordinary
 * text ("C:\Temp") should stay as it is: the result is always safe, but
 * only an unsafe S is escaped (so it can be read back only then).  S may
 * be NULL (gives "").  Never returns NULL.
 */
char *text_safe(const char *s);

/* As text_escape for the LEN bytes of P, which may hold NUL bytes
 * ("\x00").  Only the first 256 MiB are escaped (the rest is dropped).
 */
char *text_escape_mem(const void *p, size_t len);

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
