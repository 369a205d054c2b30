/* vmsnap: base64 (RFC 4648) in both alphabets.
 *
 * The standard alphabet (§4: '+', '/') and the URL and file name safe
 * one (§5: '-', '_'), each with or without '=' padding.  Tokens use the
 * URL alphabet unpadded; password hashes use the standard one unpadded.
 *
 * Pure functions: no I/O, no global state, safe in any thread.
 */
#ifndef VMSNAP_B64_H
#define VMSNAP_B64_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Flags for b64_encode and b64_decode. */
#define B64_URL 0x1 /* the URL-safe alphabet ('-', '_') */
#define B64_PAD 0x2 /* encode: add '=' padding; decode: require it */

/* Characters b64_encode writes for LEN input bytes, NUL excluded. */
size_t b64_encoded_len(size_t len, unsigned flags);

/* Encode LEN bytes of IN into OUT, which must hold
 * b64_encoded_len (LEN, FLAGS) + 1 bytes; OUT is NUL-terminated.
 * Returns the number of characters written (NUL excluded).  Cannot fail.
 */
size_t b64_encode(const void *in, size_t len, char *out, unsigned flags);

/* Decode the LEN characters of IN (the alphabet FLAGS names; '=' padding
 * required with B64_PAD, refused without it) into OUT, which must hold at
 * least LEN * 3 / 4 + 1 bytes.  Blanks, other characters, impossible
 * lengths and non-zero trailing bits are refused.  Returns the number of
 * bytes written, or -1 with ERR_INVALID (OUT may have been written).
 */
long b64_decode(const char *in, size_t len, void *out, unsigned flags,
                struct error **errp);

#endif
