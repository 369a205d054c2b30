/* vmsnap: projects, users, roles and tokens in the catalog: the subset of
 * Keystone the REST API needs (included by catalog.h; see there for the
 * rules every catalog function follows).
 *
 * The catalog stores; it does not decide.  Passwords arrive hashed (the
 * services hash and check them), tokens are known by a hash of their
 * text, and whether a disabled user's token still counts is the
 * services' policy.  A catalog always has a default project, named
 * "admin" when it was created, that local records can be owned by
 * (catalog_project_default).
 */
#ifndef VMSNAP_CATALOG_IDENTITY_H
#define VMSNAP_CATALOG_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "model.h"
#include "util.h"

struct catalog;

/* ---- Projects --------------------------------------------------------- */

/* Copy the ID of the default project into ID.  Returns 0, or -1 with
 * ERR_IO (a catalog without one is damaged), ERR_CONFLICT (busy).
 */
int catalog_project_default(struct catalog *cat, char id[UTIL_UUID_LEN],
                            struct error **errp);

/* Add project P (borrowed): a UUID chosen by the caller, a unique name,
 * a description that is a value (see model.h) or NULL; a NULL created_at
 * means now.  Returns 0, or -1 with ERR_INVALID (bad field), ERR_CONFLICT
 * "project name 'x' already exists" (or the ID is taken, or busy) or
 * ERR_IO.
 */
int catalog_project_insert(struct catalog *cat, const struct project *p,
                           struct error **errp);

/* Replace the name, description and enabled flag of project P->id with
 * those of P.  Returns 0, or -1 with ERR_INVALID, ERR_NOT_FOUND,
 * ERR_CONFLICT (the new name is taken, or busy) or ERR_IO.
 */
int catalog_project_update(struct catalog *cat, const struct project *p,
                           struct error **errp);

/* Read project ID into *OUT (free with project_free).  Returns 0, or -1
 * with ERR_NOT_FOUND "no project with ID 'x'", ERR_CONFLICT (busy) or
 * ERR_IO.
 */
int catalog_project_get(struct catalog *cat, const char *id,
                        struct project **out, struct error **errp);

/* Look a project up by full UUID first, else by name.  Returns 0, or -1
 * with ERR_NOT_FOUND "no project named or with ID 'x'", ERR_CONFLICT
 * (busy) or ERR_IO.
 */
int catalog_project_find(struct catalog *cat, const char *name_or_id,
                         struct project **out, struct error **errp);

/* List all projects by name.  *OUT and *N as for catalog_image_list (free
 * with project_list_free).
 */
int catalog_project_list(struct catalog *cat, struct project ***out,
                         size_t *n, struct error **errp);

/* Remove project ID with its role assignments and the tokens scoped to
 * it; users whose default project it was get none.  Records it owns keep
 * its ID.  The default project stays.  Returns 0, or -1 with
 * ERR_NOT_FOUND, ERR_CONFLICT "project NAME is the default project" (or
 * busy) or ERR_IO.
 */
int catalog_project_delete(struct catalog *cat, const char *id,
                           struct error **errp);

/* ---- Users ------------------------------------------------------------ */

/* Add user U (borrowed): a UUID chosen by the caller, a unique name, a
 * default_project_id that names a project or is NULL, a password_hash
 * (opaque, a value) or NULL; a NULL created_at means now;
 * password_changed_at is set to created_at when there is a hash.
 * Returns 0, or -1 with ERR_INVALID (bad field), ERR_NOT_FOUND "no
 * project with ID 'x'", ERR_CONFLICT "user name 'x' already exists" (or
 * the ID is taken, or busy) or ERR_IO.
 */
int catalog_user_insert(struct catalog *cat, const struct user *u,
                        struct error **errp);

/* Replace the name, default project and enabled flag of user U->id with
 * those of U; the password is left alone.  Returns 0, or -1 with
 * ERR_INVALID, ERR_NOT_FOUND (the user or the project), ERR_CONFLICT (the
 * new name is taken, or busy) or ERR_IO.
 */
int catalog_user_update(struct catalog *cat, const struct user *u,
                        struct error **errp);

/* Set the password hash of user ID to HASH (NULL: the user cannot log in)
 * and password_changed_at to now.  Returns 0, or -1 with ERR_INVALID,
 * ERR_NOT_FOUND, ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_user_set_password(struct catalog *cat, const char *id,
                              const char *hash, struct error **errp);

/* Read user ID into *OUT (free with user_free).  Returns 0, or -1 with
 * ERR_NOT_FOUND "no user with ID 'x'", ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_user_get(struct catalog *cat, const char *id, struct user **out,
                     struct error **errp);

/* Look a user up by full UUID first, else by name.  Returns 0, or -1 with
 * ERR_NOT_FOUND "no user named or with ID 'x'", ERR_CONFLICT (busy) or
 * ERR_IO.
 */
int catalog_user_find(struct catalog *cat, const char *name_or_id,
                      struct user **out, struct error **errp);

/* List all users by name (free with user_list_free). */
int catalog_user_list(struct catalog *cat, struct user ***out, size_t *n,
                      struct error **errp);

/* Remove user ID with its role assignments and tokens.  Returns 0, or -1
 * with ERR_NOT_FOUND, ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_user_delete(struct catalog *cat, const char *id,
                        struct error **errp);

/* ---- Roles ------------------------------------------------------------ */

/* True if ROLE is "admin" or "member". */
bool catalog_role_valid(const char *role);

/* Give user USER_ID role ROLE on project PROJECT_ID (nothing happens if
 * it has it already).  Returns 0, or -1 with ERR_INVALID (an unknown
 * role), ERR_NOT_FOUND "no user with ID 'x'" or "no project with ID
 * 'x'", ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_role_grant(struct catalog *cat, const char *user_id,
                       const char *project_id, const char *role,
                       struct error **errp);

/* Take role ROLE on project PROJECT_ID from user USER_ID.  Returns 0, or
 * -1 with ERR_NOT_FOUND "user x has no role r on project p", ERR_CONFLICT
 * (busy) or ERR_IO.
 */
int catalog_role_revoke(struct catalog *cat, const char *user_id,
                        const char *project_id, const char *role,
                        struct error **errp);

/* The role assignments of USER_ID (NULL: any user) on PROJECT_ID (NULL:
 * any project), by user, project and role: *OUT (free with
 * role_assignment_list_free) gets *N entries.  Returns 0, or -1 with
 * ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_role_list(struct catalog *cat, const char *user_id,
                      const char *project_id, struct role_assignment **out,
                      size_t *n, struct error **errp);

/* ---- Tokens ----------------------------------------------------------- */

/* Record token T (borrowed): id_hash non-empty (at most 255 bytes of
 * [0-9a-zA-Z+/=_-]), a user that exists, a project that exists or NULL,
 * roles a value, issued_at NULL (now) or a time, expires_at a time;
 * revoked is ignored.  Returns 0, or -1 with ERR_INVALID, ERR_NOT_FOUND
 * (the user or the project), ERR_CONFLICT (the hash is taken, or busy) or
 * ERR_IO.
 */
int catalog_token_insert(struct catalog *cat, const struct token *t,
                         struct error **errp);

/* Read the token whose hash is ID_HASH into *OUT (free with token_free),
 * if it is still valid: not revoked and not expired (expires_at after
 * now).  Returns 0, or -1 with ERR_NOT_FOUND "no valid token" (also for
 * an expired or revoked one), ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_token_lookup(struct catalog *cat, const char *id_hash,
                         struct token **out, struct error **errp);

/* Revoke the token whose hash is ID_HASH.  Returns 0, or -1 with
 * ERR_NOT_FOUND "no valid token", ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_token_revoke(struct catalog *cat, const char *id_hash,
                         struct error **errp);

/* Revoke every token of user USER_ID (a password change, a disabled
 * user).  Returns how many valid tokens were revoked, or -1 with
 * ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_token_revoke_user(struct catalog *cat, const char *user_id,
                              struct error **errp);

/* Remove the tokens that expired before OLDER_THAN (a time).  Returns how
 * many, or -1 with ERR_INVALID, ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_token_prune(struct catalog *cat, const char *older_than,
                        struct error **errp);

#endif
