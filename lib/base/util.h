/* vmsnap: small general helpers (identifiers, time, strict parsing,
 * strings and paths).
 *
 * None of these functions blocks except util_mkdir_p (file system calls).
 * Strings returned as char * are allocated with malloc and the caller
 * frees them.
 */
#ifndef VMSNAP_UTIL_H
#define VMSNAP_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "xalloc.h"

/* Length of a textual UUID plus its terminating NUL. */
#define UTIL_UUID_LEN 37

/* Length of the buffer util_now_iso8601 fills, NUL included. */
#define UTIL_TIME_LEN 32

/* Write a new random (version 4) UUID, lower case, NUL-terminated, into
 * OUT.  Cannot fail.
 */
void util_uuid_new(char out[UTIL_UUID_LEN]);

/* True if S is a textual UUID: 36 characters, 8-4-4-4-12 hexadecimal
 * digits (either case) separated by '-'.  S may be NULL (false).
 */
bool util_is_uuid(const char *s);

/* Write the current UTC time into OUT as "2026-11-21T23:17:28.123456Z":
 * always 27 characters, so that the strings sort in time order.  Cannot
 * fail.
 */
void util_now_iso8601(char out[UTIL_TIME_LEN]);

/* True if S has exactly the shape util_now_iso8601 produces.  S may be
 * NULL (false).
 */
bool util_is_iso8601(const char *s);

/* Parse S as a whole decimal integer (optional sign, digits, nothing
 * else: no blanks, no base prefix) into *OUT.
 * Returns 0, or -1 with ERR_INVALID if S is NULL, empty, has trailing
 * characters, or does not fit in int64_t.  *OUT is written only on
 * success.
 */
int util_parse_int64(const char *s, int64_t *out, struct error **errp);

/* Parse a size in bytes: a non-negative decimal integer, optionally
 * followed by a binary multiplier K, M, G, T, P or E (either case, powers
 * of 1024, optionally written KiB, MiB...), or by B for plain bytes.
 * "4096" -> 4096, "512M" -> 536870912, "1G" -> 1073741824.
 * Returns 0, or -1 with ERR_INVALID for an empty string, a sign, an
 * unknown suffix, or a result that does not fit in int64_t.  *BYTES is
 * written only on success.
 */
int util_parse_size(const char *s, int64_t *bytes, struct error **errp);

/* An old name of xasprintf (xalloc.h: the new string, never NULL), kept
 * for its callers.
 */
#define util_strdup_printf xasprintf

/* Create directory PATH and its missing parents with MODE (as mkdir -p;
 * an existing directory is fine).  Returns 0, or -1 with ERR_IO (or
 * ERR_INVALID for an empty path) naming the component that failed.
 * Blocks on the file system.
 */
int util_mkdir_p(const char *path, mode_t mode, struct error **errp);

/* Return "A/B" with exactly one '/' between the parts (A's trailing and
 * B's leading slashes are collapsed; an empty A gives a copy of B, an
 * empty B a copy of A).  B is always taken relative to A, even when it
 * starts with '/'.  Returns a new string (caller frees); never NULL.
 */
char *util_path_join(const char *a, const char *b);

#endif
