/* vmsnapd: the token check (see auth.h). */
#include <string.h>

#include "auth.h"
#include "token.h"

int
auth_check(const struct api_ctx *ctx, const char *token, int64_t now,
           struct api_caller *caller, struct error **errp)
{
    struct identity_token tok;
    char hash[TOKEN_HASH_LEN];

    if (token == NULL || !token_well_formed(token)) {
        error_setg(errp, ERR_NOT_FOUND, "no valid token");
        return -1;
    }
    if (token_hash(token, hash, errp) < 0) {
        return -1;
    }
    memset(&tok, 0, sizeof(tok));
    if (ctx->identity->token_get(ctx->identity_priv, hash, &tok, errp) < 0) {
        return -1;
    }
    if (tok.expires_at <= now) {
        error_setg(errp, ERR_NOT_FOUND, "the token has expired");
        return -1;
    }
    memset(caller, 0, sizeof(*caller));
    caller->who = tok.who;
    caller->admin = (tok.who.roles & IDENTITY_ROLE_ADMIN) != 0;
    caller->expires_at = tok.expires_at;
    memcpy(caller->token_hash, hash, sizeof(hash));
    return 0;
}
