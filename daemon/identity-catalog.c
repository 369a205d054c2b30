/* vmsnapd: the identity backend over the catalog's identity tables.
 *
 * The tables (projects, users with password_hash, role assignments,
 * tokens by hash with expiry and revocation) come with the catalog's
 * identity work; until then this backend refuses to open, so vmsnapd
 * cannot start with no way to log in.  The test build of the daemon
 * (tests/api) uses an in-memory backend instead.
 *
 * To implement: each method of struct identity_ops (identity.h) on the
 * catalog, password checks with password_verify (and
 * password_verify_none for unknown users), tokens stored and looked up by
 * their hash only.
 */
#include "identity.h"

static int
idcat_open(const struct identity_open_args *args, void **priv,
           struct error **errp)
{
    (void)args;
    (void)priv;
    error_setg(errp, ERR_INVALID,
               "this vmsnapd has no identity backend "
               "yet: the catalog's identity tables are not built in");
    return -1;
}

static void
idcat_close(void *priv)
{
    (void)priv;
}

const struct identity_ops identity_catalog_ops = {
    .version = IDENTITY_OPS_VERSION,
    .name = "catalog",
    .open = idcat_open,
    .close = idcat_close,
};
