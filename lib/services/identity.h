/* vmsnap: the identity service (what Keystone does for the REST API).
 *
 * Projects own records; users log in with a password and act in a
 * project on which they hold a role: "member" (acts within the project)
 * or "admin" (sees and acts on every project).  An administrator is also
 * a member.  One domain, "Default".  The catalog's default project (named
 * "admin" when the catalog was made) owns what the local command makes,
 * so a user of that project sees the same records the command does.
 *
 * Passwords are stored as PBKDF2 hashes (base/password.h), never as
 * text.  A failed login says nothing about why: an unknown user, a
 * disabled one and a wrong password all take the time of one hash check
 * and give the same error.
 *
 * Tokens are known by the SHA-256 of their text (base/token.h): the
 * catalog keeps the hash, the user, the project, how the token was
 * obtained and its expiry.  What a token allows is decided when it is
 * used, from the roles the user holds then: a role taken away, a user or
 * project disabled or deleted, take effect at once.  A password change
 * revokes every token of the user; logging out revokes one.
 *
 * The functions that manage projects and users take the caller and
 * refuse (ERR_INVALID "only an administrator may ...") when it is not an
 * administrator.  Login and token functions take none: they are what
 * makes a caller.  Every function blocks on the catalog.
 */
#ifndef VMSNAP_IDENTITY_H
#define VMSNAP_IDENTITY_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"
#include "error.h"
#include "svc.h"

/* How a token was obtained (Keystone's "methods"), as bits. */
#define IDENTITY_BY_PASSWORD 0x1u
#define IDENTITY_BY_TOKEN 0x2u

/* What "user create" asks for. */
struct identity_user_new {
    const char *name;     /* unique user name (required) */
    const char *project;  /* project name or ID it works in (required) */
    const char *password; /* its password (required; 1 to 4096 bytes) */
    bool admin;           /* an administrator, not only a member */
};

/* A user with its default project and roles there, for listings. */
struct identity_user_info {
    struct user *user;       /* the record (owned) */
    struct project *project; /* its default project, or NULL (owned) */
    bool admin;              /* holds role admin there */
    bool member;             /* holds role member there */
};

/* Who a token speaks for, and since and until when.  Names are at most
 * CATALOG_NAME_MAX bytes.
 */
struct identity_session {
    char user_id[UTIL_UUID_LEN];                /* the user */
    char user_name[CATALOG_NAME_MAX + 1];       /* its name */
    char project_id[UTIL_UUID_LEN];             /* the project, "" when
                                                 * unscoped */
    char project_name[CATALOG_NAME_MAX + 1];    /* its name, or "" */
    bool admin;                                 /* role admin held now */
    bool member;                                /* role member held now */
    unsigned methods;                           /* IDENTITY_BY_* */
    int64_t issued_at;                          /* Unix seconds */
    int64_t expires_at;                         /* Unix seconds */
};

/* ---- Projects ---------------------------------------------------------- */

/* Create project NAME (a name: see model.h) with DESCRIPTION (NULL for
 * none); *OUT (caller frees, may be NULL) is the new record.  Errors:
 * ERR_INVALID (a bad name, not an administrator), ERR_CONFLICT (the name
 * is taken).
 */
int identity_project_create(struct svc *svc, const struct caller *who,
                            const char *name, const char *description,
                            struct project **out, struct error **errp);

/* Find project REF (a UUID, else a name); caller frees. */
int identity_project_find(struct svc *svc, const struct caller *who,
                          const char *ref, struct project **out,
                          struct error **errp);

/* Every project, by name (free with project_list_free). */
int identity_project_list(struct svc *svc, const struct caller *who,
                          struct project ***out, size_t *n,
                          struct error **errp);

/* Delete project REF with its role assignments and tokens.  Refused with
 * ERR_CONFLICT for the default project, and while the project owns
 * servers, volumes, volume snapshots or images (they would be left
 * without an owner that exists).
 */
int identity_project_delete(struct svc *svc, const struct caller *who,
                            const char *ref, struct error **errp);

/* ---- Users ------------------------------------------------------------- */

/* Create user SPEC: its password hashed, its default project SPEC's,
 * with role member there (and admin too with SPEC->admin).  *OUT
 * (caller frees, may be NULL) is the new record.  Errors: ERR_INVALID (a
 * bad name or password, not an administrator), ERR_NOT_FOUND (no such
 * project), ERR_CONFLICT (the name is taken).  Takes a fraction of a
 * second: the hash is slow on purpose.
 */
int identity_user_create(struct svc *svc, const struct caller *who,
                         const struct identity_user_new *spec,
                         struct user **out, struct error **errp);

/* Find user REF (a UUID, else a name); caller frees.  The record's
 * password_hash is never returned (NULL).
 */
int identity_user_find(struct svc *svc, const struct caller *who,
                       const char *ref, struct user **out,
                       struct error **errp);

/* Every user with its default project and roles there, by name: *OUT
 * gets *N entries (free with identity_user_info_free).
 */
int identity_user_list(struct svc *svc, const struct caller *who,
                       struct identity_user_info **out, size_t *n,
                       struct error **errp);
void identity_user_info_free(struct identity_user_info *list, size_t n);

/* Delete user REF with its role assignments and tokens. */
int identity_user_delete(struct svc *svc, const struct caller *who,
                         const char *ref, struct error **errp);

/* Set the password of user REF to PASSWORD and revoke its tokens. */
int identity_user_set_password(struct svc *svc, const struct caller *who,
                               const char *ref, const char *password,
                               struct error **errp);

/* Enable or disable user REF; disabling revokes its tokens. */
int identity_user_set_enabled(struct svc *svc, const struct caller *who,
                              const char *ref, bool enabled,
                              struct error **errp);

/* ---- Login and tokens -------------------------------------------------- */

/* Check PASSWORD for the user with ID USER_ID, or else named USER_NAME
 * (one of them not NULL), enabled and with a password.  On success fill
 * S's user fields (the rest is zeroed).  Every refusal is ERR_NOT_FOUND
 * "invalid user or password" and takes the same time; ERR_INVALID when
 * both references are NULL.
 */
int identity_authenticate(struct svc *svc, const char *user_id,
                          const char *user_name, const char *password,
                          struct identity_session *s, struct error **errp);

/* Scope S (user fields set) to the project with ID PROJECT_ID, or else
 * named PROJECT_NAME: fill project_id, project_name, admin and member.
 * ERR_NOT_FOUND when the project does not exist, is disabled, or the
 * user holds no role on it (one answer for all three).
 */
int identity_scope(struct svc *svc, const char *project_id,
                   const char *project_name, struct identity_session *s,
                   struct error **errp);

/* Record a token: its SHA-256 HASH (64 hex digits) and S (user,
 * project, methods, issued_at, expires_at; the roles are not stored: they
 * are read when the token is used).  Expired tokens are pruned on the
 * way.  ERR_CONFLICT if HASH is recorded already.
 */
int identity_token_add(struct svc *svc, const char *hash,
                       const struct identity_session *s,
                       struct error **errp);

/* Fill *S from the token whose hash is HASH, with the roles the user
 * holds now.  ERR_NOT_FOUND "no valid token" when it is unknown, revoked
 * or expired, when its user or project is gone or disabled, or when the
 * user holds no role on its project any more.
 */
int identity_token_get(struct svc *svc, const char *hash,
                       struct identity_session *s, struct error **errp);

/* The projects user USER_ID holds a role on, enabled ones only, by name
 * (free with project_list_free): where its tokens may be scoped.
 */
int identity_projects_of(struct svc *svc, const char *user_id,
                         struct project ***out, size_t *n,
                         struct error **errp);

/* Revoke the token whose hash is HASH (ERR_NOT_FOUND if none is valid). */
int identity_token_revoke(struct svc *svc, const char *hash,
                          struct error **errp);

#endif
