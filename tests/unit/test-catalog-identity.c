/* Unit tests of the catalog's projects, users, roles and tokens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "cleanup.h"
#include "error.h"
#include "tap.h"
#include "test-catalog.h"
#include "util.h"

#define PAST "2000-01-01T00:00:00.000000Z"
#define FUTURE "2999-01-01T00:00:00.000000Z"

/* A new enabled project named NAME with a fresh ID. */
static struct project *
new_project(const char *name)
{
    struct project *p = calloc(1, sizeof(*p));

    if (p == NULL) {
        abort();
    }
    util_uuid_new(p->id);
    p->name = tc_strdup(name);
    p->enabled = true;
    return p;
}

/* A new enabled user named NAME with a fresh ID. */
static struct user *
new_user(const char *name, const char *project_id)
{
    struct user *u = calloc(1, sizeof(*u));

    if (u == NULL) {
        abort();
    }
    util_uuid_new(u->id);
    u->name = tc_strdup(name);
    u->default_project_id = tc_strdup(project_id);
    u->enabled = true;
    return u;
}

static void
test_projects(struct catalog *cat)
{
    struct error *err = NULL;
    struct project *p = new_project("demo");
    struct project *dup = new_project("demo");
    struct project *got = NULL;
    struct project **list = NULL;
    char def[UTIL_UUID_LEN];
    size_t n = 0;

    ok(catalog_project_default(cat, def, &err) == 0 && no_err(&err) &&
           catalog_project_get(cat, def, &got, &err) == 0 && no_err(&err) &&
           streq(got->name, "admin") && got->enabled &&
           util_is_iso8601(got->created_at),
       "a new catalog has a default project named admin");
    project_free(got);
    got = NULL;

    p->description = tc_strdup("Demo project,\nfor tests");
    ok(catalog_project_insert(cat, p, &err) == 0 && no_err(&err),
       "insert a project");
    ok(catalog_project_insert(cat, dup, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, "project name 'demo' already exists"),
       "project names are unique");
    ok(catalog_project_find(cat, "demo", &got, &err) == 0 && no_err(&err) &&
           streq(got->id, p->id) &&
           streq(got->description, "Demo project,\nfor tests"),
       "find it by name");
    project_free(got);
    got = NULL;
    ok(catalog_project_list(cat, &list, &n, &err) == 0 && no_err(&err) &&
           n == 2 && streq(list[0]->name, "admin") &&
           streq(list[1]->name, "demo"),
       "list them by name");
    project_list_free(list, n);

    free(p->name);
    p->name = tc_strdup("demo2");
    p->enabled = false;
    ok(catalog_project_update(cat, p, &err) == 0 && no_err(&err) &&
           catalog_project_get(cat, p->id, &got, &err) == 0 &&
           streq(got->name, "demo2") && !got->enabled,
       "rename and disable it");
    project_free(got);
    got = NULL;
    free(p->name);
    p->name = tc_strdup("admin");
    ok(catalog_project_update(cat, p, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "not onto a name that is taken");
    free(p->name);
    p->name = tc_strdup("a\x1b");
    ok(catalog_project_insert(cat, p, &err) == -1 &&
           err_is(&err, ERR_INVALID,
                  "project name contains a control character"),
       "a project name with an escape is refused");
    ok(catalog_project_delete(cat, def, &err) == -1 &&
           err_is(&err, ERR_CONFLICT,
                  "project admin is the default project"),
       "the default project stays");
    ok(catalog_project_get(cat, NO_SUCH_ID, &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, "no project with ID '" NO_SUCH_ID "'"),
       "a missing project is not found");
    ok(catalog_project_delete(cat, p->id, &err) == 0 && no_err(&err) &&
           catalog_project_delete(cat, p->id, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "delete a project");
    project_free(p);
    project_free(dup);
}

static void
test_users(struct catalog *cat)
{
    struct error *err = NULL;
    struct project *p = new_project("users");
    struct user *u, *dup, *got = NULL;
    struct user **list = NULL;
    CLEANUP_FREE char *changed = NULL;
    size_t n = 0;

    catalog_project_insert(cat, p, NULL);
    u = new_user("ann", p->id);
    dup = new_user("ann", NULL);
    u->password_hash = tc_strdup("$6$salt$hash");
    ok(catalog_user_insert(cat, u, &err) == 0 && no_err(&err),
       "insert a user");
    ok(catalog_user_insert(cat, dup, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, "user name 'ann' already exists"),
       "user names are unique");
    ok(catalog_user_find(cat, "ann", &got, &err) == 0 && no_err(&err) &&
           streq(got->id, u->id) && streq(got->default_project_id, p->id) &&
           streq(got->password_hash, "$6$salt$hash") && got->enabled &&
           streq(got->password_changed_at, got->created_at),
       "find the user by name");
    changed = got ? tc_strdup(got->password_changed_at) : NULL;
    user_free(got);
    got = NULL;

    free(dup->name);
    dup->name = tc_strdup("bob");
    free(dup->default_project_id);
    dup->default_project_id = tc_strdup(NO_SUCH_ID);
    ok(catalog_user_insert(cat, dup, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, "no project with ID '" NO_SUCH_ID "'"),
       "a default project must exist");
    free(dup->default_project_id);
    dup->default_project_id = NULL;
    ok(catalog_user_insert(cat, dup, &err) == 0 && no_err(&err) &&
           catalog_user_list(cat, &list, &n, &err) == 0 && n == 2 &&
           streq(list[0]->name, "ann") && streq(list[1]->name, "bob") &&
           list[1]->password_hash == NULL,
       "a user without a password or project; list by name");
    user_list_free(list, n);

    u->enabled = false;
    free(u->password_hash);
    u->password_hash = NULL;
    ok(catalog_user_update(cat, u, &err) == 0 && no_err(&err) &&
           catalog_user_get(cat, u->id, &got, &err) == 0 && !got->enabled &&
           streq(got->password_hash, "$6$salt$hash"),
       "an update leaves the password alone");
    user_free(got);
    got = NULL;
    ok(catalog_user_set_password(cat, u->id, "$6$new$hash", &err) == 0 &&
           no_err(&err) &&
           catalog_user_get(cat, u->id, &got, &err) == 0 &&
           streq(got->password_hash, "$6$new$hash") &&
           strcmp(got->password_changed_at, changed) > 0,
       "set the password");
    user_free(got);
    got = NULL;
    ok(catalog_user_set_password(cat, NO_SUCH_ID, "x", &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "the password of a missing user is not found");

    ok(catalog_project_delete(cat, p->id, &err) == 0 && no_err(&err) &&
           catalog_user_get(cat, u->id, &got, &err) == 0 &&
           got->default_project_id == NULL,
       "deleting its default project leaves the user without one");
    user_free(got);
    ok(catalog_user_delete(cat, u->id, &err) == 0 &&
           catalog_user_delete(cat, dup->id, &err) == 0 && no_err(&err),
       "delete the users");
    user_free(u);
    user_free(dup);
    project_free(p);
}

static void
test_roles(struct catalog *cat)
{
    struct error *err = NULL;
    struct project *p = new_project("roles");
    struct user *u = new_user("carol", NULL);
    struct user *v = new_user("dave", NULL);
    struct role_assignment *list = NULL;
    char def[UTIL_UUID_LEN];
    size_t n = 0;

    catalog_project_default(cat, def, NULL);
    ok(catalog_project_insert(cat, p, &err) == 0 &&
           catalog_user_insert(cat, u, &err) == 0 &&
           catalog_user_insert(cat, v, &err) == 0 && no_err(&err),
       "a project and two users");
    ok(catalog_role_grant(cat, u->id, p->id, "member", &err) == 0 &&
           catalog_role_grant(cat, u->id, p->id, "member", &err) == 0 &&
           catalog_role_grant(cat, u->id, def, "admin", &err) == 0 &&
           catalog_role_grant(cat, v->id, p->id, "admin", &err) == 0 &&
           no_err(&err),
       "grant roles (twice is fine)");
    ok(catalog_role_grant(cat, u->id, p->id, "owner", &err) == -1 &&
           err_is(&err, ERR_INVALID, "unknown role 'owner'"),
       "an unknown role is refused");
    ok(catalog_role_grant(cat, NO_SUCH_ID, p->id, "member", &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, "no user with ID '" NO_SUCH_ID "'"),
       "a missing user is not found");
    ok(catalog_role_list(cat, u->id, NULL, &list, &n, &err) == 0 &&
           no_err(&err) && n == 2,
       "the roles of a user");
    role_assignment_list_free(list, n);
    ok(catalog_role_list(cat, NULL, p->id, &list, &n, &err) == 0 &&
           no_err(&err) && n == 2,
       "the roles on a project");
    role_assignment_list_free(list, n);
    ok(catalog_role_list(cat, v->id, p->id, &list, &n, &err) == 0 &&
           no_err(&err) && n == 1 && streq(list[0].role, "admin") &&
           streq(list[0].user_id, v->id) && streq(list[0].project_id, p->id),
       "the roles of a user on a project");
    role_assignment_list_free(list, n);
    ok(catalog_role_revoke(cat, u->id, p->id, "member", &err) == 0 &&
           no_err(&err) &&
           catalog_role_revoke(cat, u->id, p->id, "member", &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "revoke a role, not twice");
    ok(catalog_user_delete(cat, v->id, &err) == 0 && no_err(&err) &&
           catalog_role_list(cat, NULL, p->id, &list, &n, &err) == 0 &&
           n == 0,
       "a deleted user's roles go with it");
    role_assignment_list_free(list, n);
    ok(catalog_project_delete(cat, p->id, &err) == 0 &&
           catalog_role_list(cat, u->id, NULL, &list, &n, &err) == 0 &&
           n == 1 && streq(list[0].project_id, def),
       "and so do a deleted project's");
    role_assignment_list_free(list, n);
    catalog_user_delete(cat, u->id, NULL);
    project_free(p);
    user_free(u);
    user_free(v);
}

static void
test_tokens(struct catalog *cat)
{
    struct error *err = NULL;
    struct project *p = new_project("tokens");
    struct user *u = new_user("erin", NULL);
    struct token t = { .roles = (char *)"member",
                       .expires_at = (char *)FUTURE };
    struct token *got = NULL;

    catalog_project_insert(cat, p, NULL);
    catalog_user_insert(cat, u, NULL);
    t.user_id = u->id;
    t.project_id = p->id;
    t.id_hash = (char *)"aaaa1111";
    ok(catalog_token_insert(cat, &t, &err) == 0 && no_err(&err),
       "issue a token");
    ok(catalog_token_insert(cat, &t, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "a hash is unique");
    ok(catalog_token_lookup(cat, "aaaa1111", &got, &err) == 0 &&
           no_err(&err) && streq(got->user_id, u->id) &&
           streq(got->project_id, p->id) && streq(got->roles, "member") &&
           streq(got->expires_at, FUTURE) && !got->revoked &&
           util_is_iso8601(got->issued_at),
       "look it up");
    token_free(got);
    got = NULL;
    t.id_hash = (char *)"bbbb2222";
    t.expires_at = (char *)PAST;
    t.project_id = NULL;
    ok(catalog_token_insert(cat, &t, &err) == 0 && no_err(&err) &&
           catalog_token_lookup(cat, "bbbb2222", &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, "no valid token"),
       "an expired token is not found");
    t.id_hash = (char *)"cccc3333";
    t.expires_at = (char *)FUTURE;
    ok(catalog_token_insert(cat, &t, &err) == 0 &&
           catalog_token_revoke(cat, "cccc3333", &err) == 0 &&
           no_err(&err) &&
           catalog_token_lookup(cat, "cccc3333", &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "a revoked token is not found");
    ok(catalog_token_revoke(cat, "cccc3333", &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "revoking it twice is not found");
    t.id_hash = (char *)"dddd4444";
    ok(catalog_token_insert(cat, &t, &err) == 0 && no_err(&err) &&
           catalog_token_revoke_user(cat, u->id, &err) == 2 && no_err(&err),
       "revoking a user's tokens revokes the two valid ones");
    ok(catalog_token_lookup(cat, "aaaa1111", &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL) &&
           catalog_token_revoke_user(cat, u->id, &err) == 0 && no_err(&err),
       "none is left");
    ok(catalog_token_prune(cat, "2500-01-01T00:00:00.000000Z", &err) == 1 &&
           no_err(&err) && raw_int(db_path, "SELECT count(*) FROM tokens") == 3,
       "prune the expired one");

    t.id_hash = (char *)"not a hash";
    ok(catalog_token_insert(cat, &t, &err) == -1 &&
           err_is(&err, ERR_INVALID, "bad token hash"),
       "a hash is a word of base64 or hex");
    t.id_hash = (char *)"eeee5555";
    t.expires_at = NULL;
    ok(catalog_token_insert(cat, &t, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "a token needs an expiry");
    t.expires_at = (char *)FUTURE;
    t.user_id = (char *)NO_SUCH_ID;
    ok(catalog_token_insert(cat, &t, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "a token needs a user");
    ok(catalog_user_delete(cat, u->id, &err) == 0 && no_err(&err) &&
           raw_int(db_path, "SELECT count(*) FROM tokens") == 0,
       "a deleted user's tokens go with it");
    catalog_project_delete(cat, p->id, NULL);
    project_free(p);
    user_free(u);
}

int
main(void)
{
    struct catalog *cat;

    tc_setup("cat-identity");
    cat = tc_open();
    ok(catalog_role_valid("admin") && catalog_role_valid("member") &&
           !catalog_role_valid("reader"),
       "roles");
    test_projects(cat);
    test_users(cat);
    test_roles(cat);
    test_tokens(cat);
    catalog_close(cat);
    remove_tmpdir();
    free(db_path);
    return tap_done();
}
