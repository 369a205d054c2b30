/* vmsnapd: the identity backend interface (what Keystone keeps).
 *
 * The Keystone handlers (api-identity.c) and the token check of every
 * request (auth.c) reach users, projects, role assignments and tokens only
 * through this table of functions, so the store behind it can change: the
 * catalog's identity tables in the daemon, an in-memory table in the
 * tests (tests/api/identity-memory.c).
 *
 * The model is Keystone's, cut down: one domain ("default", named
 * "Default"); users with a password hash (lib/base/password.h); projects;
 * roles "admin" and "member" assigned to a user on a project; tokens
 * stored by the SHA-256 of their text (lib/base/token.h), never the text,
 * with an expiry, revoked by deleting them.
 *
 * A backend is shared by every connection thread: each function may be
 * called from several threads at once, and may block (a database query).
 * Strings passed in are borrowed for the call.  Records passed out are
 * filled in the caller's memory or allocated as the function says.
 */
#ifndef VMSNAPD_IDENTITY_BACKEND_H
#define VMSNAPD_IDENTITY_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "token.h"

#define IDENTITY_OPS_VERSION 1

#define IDENTITY_ID_MAX 64    /* longest id, NUL excluded */
#define IDENTITY_NAME_MAX 255 /* longest name, NUL excluded */

/* The one domain. */
#define IDENTITY_DOMAIN_ID "default"
#define IDENTITY_DOMAIN_NAME "Default"

/* Roles, as bits. */
#define IDENTITY_ROLE_ADMIN 0x1u  /* sees and acts on every project */
#define IDENTITY_ROLE_MEMBER 0x2u /* acts within its project */

/* How a token was obtained, as bits (Keystone's "methods"). */
#define IDENTITY_METHOD_PASSWORD 0x1u
#define IDENTITY_METHOD_TOKEN 0x2u

/* A user or project as a request names it: by ID, or by NAME within the
 * domain DOMAIN_ID or DOMAIN_NAME.  Unused fields are NULL.
 */
struct identity_ref {
    const char *id;          /* the id, or NULL */
    const char *name;        /* the name, or NULL */
    const char *domain_id;   /* the name's domain by id, or NULL */
    const char *domain_name; /* the name's domain by name, or NULL */
};

/* Who a token speaks for. */
struct identity_principal {
    char user_id[IDENTITY_ID_MAX + 1];        /* never empty */
    char user_name[IDENTITY_NAME_MAX + 1];    /* never empty */
    char project_id[IDENTITY_ID_MAX + 1];     /* "" when unscoped */
    char project_name[IDENTITY_NAME_MAX + 1]; /* "" when unscoped */
    unsigned roles;                           /* IDENTITY_ROLE_* held on
                                               * the project; 0 when
                                               * unscoped */
};

/* A token as stored. */
struct identity_token {
    char hash[TOKEN_HASH_LEN];     /* SHA-256 hex of the token's text */
    struct identity_principal who; /* whom it speaks for */
    int64_t issued_at;             /* Unix seconds */
    int64_t expires_at;            /* Unix seconds */
    unsigned methods;              /* IDENTITY_METHOD_* */
    char audit_id[24];             /* Keystone's audit id: 22 characters
                                    * of URL-safe base64 */
};

/* A project, for listings. */
struct identity_project {
    char id[IDENTITY_ID_MAX + 1];            /* its id */
    char name[IDENTITY_NAME_MAX + 1];        /* its name */
    char description[IDENTITY_NAME_MAX + 1]; /* "" if none */
    bool enabled;                            /* may be used */
};

/* A user, for listings (never its password hash). */
struct identity_user {
    char id[IDENTITY_ID_MAX + 1];     /* its id */
    char name[IDENTITY_NAME_MAX + 1]; /* its name */
    bool enabled;                     /* may log in */
};

struct svcpool;

/* What a backend is opened with. */
struct identity_open_args {
    const char *data_dir;      /* the data directory, or NULL */
    const char *config_file;   /* --config FILE, or NULL */
    struct svcpool *services;  /* the daemon's service contexts
                                * (svcpool.h), borrowed until close */
};

struct identity_ops {
    int version;      /* IDENTITY_OPS_VERSION it implements */
    const char *name; /* for messages: "catalog", "memory" */

    /* Open the backend; *PRIV is its state, handed to every other call.
     * ERR_* as the store fails.
     */
    int (*open)(const struct identity_open_args *args, void **priv,
                struct error **errp);
    /* Close it; after every request has ended. */
    void (*close)(void *priv);

    /* Check PASSWORD for USER (an enabled user).  On success fill
     * WHO's user_id and user_name (leave the project fields alone) and
     * return 0.  An unknown user, a disabled one and a wrong password
     * are all -1 with ERR_NOT_FOUND, in the same time
     * (password_verify_none), so neither the answer nor its delay tells
     * which.  ERR_INVALID when USER names no id and no name.
     */
    int (*authenticate)(void *priv, const struct identity_ref *user,
                        const char *password, struct identity_principal *who,
                        struct error **errp);

    /* Scope WHO (user fields set) to PROJECT: fill project_id,
     * project_name and roles from the user's assignments on it.  -1 with
     * ERR_NOT_FOUND when the project does not exist, is disabled, or the
     * user holds no role on it (the same answer, so projects cannot be
     * probed).
     */
    int (*scope)(void *priv, const struct identity_ref *project,
                 struct identity_principal *who, struct error **errp);

    /* Store TOK (its hash is the key).  ERR_CONFLICT if the hash is
     * already stored.
     */
    int (*token_add)(void *priv, const struct identity_token *tok,
                     struct error **errp);

    /* Fill *OUT with the token stored under HASH.  The roles are those
     * the user holds now (an assignment removed since the token was made
     * takes effect at once); a token whose user or project is gone or
     * disabled is unknown.  -1 with ERR_NOT_FOUND when unknown or
     * revoked.  The caller checks expires_at.
     */
    int (*token_get)(void *priv, const char *hash, struct identity_token *out,
                     struct error **errp);

    /* Revoke the token stored under HASH.  ERR_NOT_FOUND if unknown. */
    int (*token_revoke)(void *priv, const char *hash, struct error **errp);

    /* The projects USER_ID holds a role on, or every project when
     * USER_ID is NULL: *OUT (caller frees) gets *N records, sorted by
     * name.
     */
    int (*list_projects)(void *priv, const char *user_id,
                         struct identity_project **out, size_t *n,
                         struct error **errp);

    /* Every user: *OUT (caller frees) gets *N records, sorted by name. */
    int (*list_users)(void *priv, struct identity_user **out, size_t *n,
                      struct error **errp);

    /* Methods above are valid for version 1. */
};

/* The backend over the catalog's identity tables (identity-catalog.c). */
extern const struct identity_ops identity_catalog_ops;

/* Copy S into a fixed field of SIZE bytes; false (and DST empty) if it
 * does not fit.
 */
bool identity_copy(char *dst, size_t size, const char *s);

#endif
