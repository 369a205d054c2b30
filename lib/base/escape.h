/* vmsnap: untrusted text made safe to print.
 *
 * Text that comes from outside (names and properties a user or an
 * imported package gives, a guest agent's or QEMU's error strings, a
 * volume name inside block_device_mapping) can hold anything: escape
 * sequences that retitle or clear a terminal, carriage returns and
 * newlines that forge "vmsnap: ..." lines, bidirectional overrides that
 * make text read differently than it is, bytes that are not UTF-8 (audit
 * M1, L3).  Every text printed for a person goes through escape_text or
 * escape_safe; text.h checks names and writes JSON strings on top of
 * these.
 *
 * UTF-8 here is RFC 3629: no overlong forms, no surrogates (U+D800 to
 * U+DFFF), nothing above U+10FFFF.  "Control characters" are C0 (U+0000
 * to U+001F), DEL (U+007F) and C1 (U+0080 to U+009F, which some
 * terminals obey as they obey ESC).  "Bidirectional controls" are U+061C,
 * U+200E, U+200F, U+202A to U+202E and U+2066 to U+2069.
 *
 * Every function is pure (no I/O, no global state), thread-safe and
 * never blocks; it depends on nothing but xalloc.h, so that the lowest
 * modules (error.c, log.c) can use it.  Strings returned are new; the
 * caller frees them.
 */
#ifndef VMSNAP_ESCAPE_H
#define VMSNAP_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest input escape_mem escapes whole: 256 MiB. */
#define ESCAPE_MAX ((size_t)256 << 20)

/* Decode the UTF-8 sequence at the start of the N bytes of P.  Returns
 * its length (1 to 4) and stores the code point in *CP, or returns 0 when
 * the bytes are not a valid sequence (or N is 0).
 */
size_t escape_utf8_next(const void *p, size_t n, uint32_t *cp);

/* True when the N bytes of P are valid UTF-8 (NUL bytes included). */
bool escape_utf8_valid(const void *p, size_t n);

/* True for a control character (C0, DEL, C1) and for a bidirectional
 * control.
 */
bool escape_is_control(uint32_t cp);
bool escape_is_bidi(uint32_t cp);

/* What makes text unsafe to print. */
enum escape_flaw {
    ESCAPE_FLAW_NONE,    /* nothing: safe */
    ESCAPE_FLAW_UTF8,    /* a byte that is not valid UTF-8 */
    ESCAPE_FLAW_CONTROL, /* a control character */
    ESCAPE_FLAW_BIDI,    /* a bidirectional control */
};

/* The first flaw in the N bytes of S: its kind, its byte offset in *AT
 * and its code point (or the byte, for invalid UTF-8) in *CP.
 */
enum escape_flaw escape_first_flaw(const char *s, size_t n, size_t *at,
                                   uint32_t *cp);

/* A copy of S safe for a terminal and for line-oriented output: valid
 * UTF-8 text stays as it is, except that a backslash becomes "\\",
 * newline "\n", carriage return "\r", tab "\t", and every other control
 * character, bidirectional control and byte of invalid UTF-8 becomes
 * "\xNN" (one per byte, lower-case hex).  So the result is one line of
 * valid UTF-8 with no control characters, and S can be read back from
 * it.  S may be NULL (gives "").  Never returns NULL.
 */
char *escape_text(const char *s);

/* True when S is already safe to print as one line: valid UTF-8 with no
 * control character and no bidirectional control.
 */
bool escape_is_safe(const char *s);

/* S itself when it is safe (escape_is_safe), else escape_text (S), as a new
 * string.  For messages shown to people, where a backslash in ordinary
 * text ("C:\Temp") should stay as it is: the result is always safe, but
 * only an unsafe S is escaped (so it can be read back only then).  S may
 * be NULL (gives "").  Never returns NULL.
 */
char *escape_safe(const char *s);

/* As escape_text for the LEN bytes of P, which may hold NUL bytes
 * ("\x00").  Only the first ESCAPE_MAX bytes are escaped (the rest is dropped).
 */
char *escape_mem(const void *p, size_t len);

#endif
