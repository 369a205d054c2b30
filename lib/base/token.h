/* vmsnap: bearer tokens (Keystone's X-Subject-Token) and their hashes.
 *
 * A token is 32 random bytes in unpadded URL-safe base64: 43 characters
 * that need no escaping in a header.  The catalog never keeps a token,
 * only its SHA-256 in lower-case hex, so a copy of the catalog cannot be
 * replayed as credentials.  A token is looked up by its hash, so no
 * string comparison of secrets happens in the caller.
 *
 * Safe in any thread; no I/O but the system's random generator.
 */
#ifndef VMSNAP_TOKEN_H
#define VMSNAP_TOKEN_H

#include <stdbool.h>

#include "error.h"

#define TOKEN_LEN 44      /* 43 characters and the NUL */
#define TOKEN_HASH_LEN 65 /* 64 hex digits and the NUL */

/* Write a new random token into OUT.  Returns 0, or -1 with ERR_IO when
 * the random generator fails.
 */
int token_new(char out[TOKEN_LEN], struct error **errp);

/* Write the SHA-256 hex digest of TOKEN (any string: a client may send
 * anything) into OUT.  Returns 0, or -1 with ERR_IO if libcrypto fails.
 */
int token_hash(const char *token, char out[TOKEN_HASH_LEN],
               struct error **errp);

/* True if S has the shape of a token this module makes (length and
 * alphabet), so obvious garbage is refused before any lookup.
 */
bool token_well_formed(const char *s);

#endif
