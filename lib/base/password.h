/* vmsnap: password hashes for stored credentials (OpenSSL libcrypto).
 *
 * A password is stored as a self-describing string
 *
 *     $pbkdf2-sha256$ITERATIONS$SALT$HASH
 *
 * PBKDF2-HMAC-SHA256 (RFC 8018) with ITERATIONS in decimal, a random
 * 16-byte SALT per password and a 32-byte HASH, both in standard base64
 * without padding.  The default count follows OWASP's 2023 advice for
 * PBKDF2-HMAC-SHA256 (600,000); the count is in the string, so raising
 * the default later leaves old hashes valid.  A verification takes about
 * as long as a hash (a fraction of a second): callers authenticate rarely
 * (a login) and keep tokens for the rest.
 *
 * Every function may be called from several threads at once.  None does
 * I/O except reading the system's random generator.
 */
#ifndef VMSNAP_PASSWORD_H
#define VMSNAP_PASSWORD_H

#include <stdbool.h>

#include "error.h"

/* Iterations of new hashes, and the range accepted in stored ones (a
 * stored count outside it is refused rather than run: a planted string
 * must not make a login take hours).
 */
#define PASSWORD_ITER_DEFAULT 600000u
#define PASSWORD_ITER_MIN 1000u
#define PASSWORD_ITER_MAX 10000000u

/* Longest password accepted, in bytes. */
#define PASSWORD_MAX_LEN 4096

/* Hash PASSWORD (NUL-terminated, 1..PASSWORD_MAX_LEN bytes) with ITER
 * iterations (0: PASSWORD_ITER_DEFAULT; else within the range above) and
 * a fresh random salt.  Returns the encoded string (caller frees), or
 * NULL with ERR_INVALID (empty or too long password, count out of range)
 * or ERR_IO (no randomness, libcrypto failure).
 */
char *password_hash(const char *password, unsigned iter, struct error **errp);

/* Check PASSWORD against ENCODED (a string from password_hash), in time
 * that does not depend on how much of the hash matches.  Returns 1 when
 * it matches, 0 when it does not, and -1 with ERR_INVALID when ENCODED is
 * not a well-formed hash this module makes (or ERR_IO if libcrypto
 * fails).  A password over PASSWORD_MAX_LEN never matches.
 */
int password_verify(const char *password, const char *encoded,
                    struct error **errp);

/* Spend the time of a verification against a default-cost hash, for a
 * user that does not exist: so that an unknown name and a wrong password
 * take the same time.  Always returns false.
 */
bool password_verify_none(const char *password);

#endif
