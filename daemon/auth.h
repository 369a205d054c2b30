/* vmsnapd: the token check in front of every request but discovery and
 * login (router.h step 4).
 *
 * A request shows its token in X-Auth-Token.  The token's SHA-256 is
 * looked up in the identity backend; an unknown, revoked or expired token
 * is refused with 401, as keystonemiddleware does in front of the real
 * services.  A token that is good fills the caller record the handlers
 * get (the services' "struct caller" is made from it).
 */
#ifndef VMSNAPD_AUTH_H
#define VMSNAPD_AUTH_H

#include "api-common.h"
#include "error.h"

/* Check TOKEN (the header's value; NULL if absent) with CTX's backend at
 * time NOW (Unix seconds) and fill *CALLER.  Returns 0, or -1 with
 * ERR_NOT_FOUND (no token, malformed, unknown, revoked or expired: the
 * client gets 401) or another class when the backend fails (500).
 * Blocks on the backend.
 */
int auth_check(const struct api_ctx *ctx, const char *token, int64_t now,
               struct api_caller *caller, struct error **errp);

#endif
