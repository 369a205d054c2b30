/* vmsnap tests: the identity service (lib/services/identity.h) on a real
 * catalog in a temporary data directory: projects, users, roles, logins
 * that refuse alike, tokens that follow the user's roles, revocations.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "config.h"
#include "identity.h"
#include "run.h"
#include "tap.h"
#include "token.h"
#include "volumes.h"

static char data_dir[] = "/tmp/vmsnap-identity.XXXXXX";

/* A token hash made from TEXT. */
static void
hash_of(const char *text, char out[TOKEN_HASH_LEN])
{
    if (token_hash(text, out, NULL) < 0) {
        abort();
    }
}

static bool
refused_alike(struct svc *svc, const char *id, const char *name,
              const char *password)
{
    struct error *err = NULL;
    struct identity_session s;
    bool r;

    r = identity_authenticate(svc, id, name, password, &s, &err) < 0 &&
        error_get_class(err) == ERR_NOT_FOUND &&
        strcmp(error_msg(err), "invalid user or password") == 0;
    error_free(err);
    return r;
}

int
main(void)
{
    struct error *err = NULL;
    struct config *cfg;
    struct svc *svc;
    const struct caller *admin;
    struct caller member = {0};
    struct identity_user_new spec = {0};
    struct identity_session s, t;
    struct user *u = NULL;
    struct project *demo = NULL;
    struct identity_user_info *users = NULL;
    struct project **plist = NULL;
    size_t n = 0;
    char h1[TOKEN_HASH_LEN], h2[TOKEN_HASH_LEN], h3[TOKEN_HASH_LEN];
    int64_t now = (int64_t)time(NULL);

    if (mkdtemp(data_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    cfg = config_load("/dev/null", &err);
    if (cfg == NULL || config_set(cfg, "data_dir", data_dir, &err) < 0 ||
        (svc = svc_open(cfg, &err)) == NULL) {
        fprintf(stderr, "setup: %s\n", error_msg(err));
        return 1;
    }
    admin = svc_local_caller(svc);

    /* Projects. */
    ok(identity_project_create(svc, admin, "demo", "the demo", &demo,
                               &err) == 0 &&
           strcmp(demo->name, "demo") == 0,
       "an administrator creates a project");
    ok(identity_project_create(svc, admin, "demo", NULL, NULL, &err) < 0 &&
           error_get_class(err) == ERR_CONFLICT,
       "a project name is unique");
    error_free(err);
    err = NULL;
    member.project_id = demo->id;
    ok(identity_project_create(svc, &member, "x", NULL, NULL, &err) < 0 &&
           strstr(error_msg(err), "only an administrator") != NULL,
       "a member creates no project");
    error_free(err);
    err = NULL;
    ok(identity_project_list(svc, admin, &plist, &n, &err) == 0 && n == 2 &&
           strcmp(plist[0]->name, "admin") == 0,
       "the default project is there, named admin");
    project_list_free(plist, n);
    ok(identity_project_delete(svc, admin, "admin", &err) < 0 &&
           error_get_class(err) == ERR_CONFLICT,
       "the default project cannot be deleted");
    error_free(err);
    err = NULL;

    /* Users. */
    spec.name = "bob";
    spec.project = "demo";
    spec.password = "secret-bob";
    ok(identity_user_create(svc, admin, &spec, &u, &err) == 0 &&
           u->password_hash == NULL &&
           strcmp(u->default_project_id, demo->id) == 0,
       "an administrator creates a user; its hash is not returned");
    spec.name = "root";
    spec.project = "admin";
    spec.password = "secret-root";
    spec.admin = true;
    ok(identity_user_create(svc, admin, &spec, NULL, &err) == 0,
       "... and an administrator");
    spec.name = "nobody";
    spec.password = "";
    ok(identity_user_create(svc, admin, &spec, NULL, &err) < 0 &&
           error_get_class(err) == ERR_INVALID,
       "an empty password is refused");
    error_free(err);
    err = NULL;
    spec.password = "x";
    spec.project = "nosuch";
    ok(identity_user_create(svc, admin, &spec, NULL, &err) < 0 &&
           error_get_class(err) == ERR_NOT_FOUND,
       "a user of an unknown project is refused");
    error_free(err);
    err = NULL;
    ok(identity_user_list(svc, admin, &users, &n, &err) == 0 && n == 2 &&
           strcmp(users[0].user->name, "bob") == 0 && !users[0].admin &&
           users[0].member && users[1].admin && users[1].member &&
           strcmp(users[1].project->name, "admin") == 0,
       "users are listed with their project and roles");
    identity_user_info_free(users, n);

    /* Logins. */
    ok(identity_authenticate(svc, NULL, "bob", "secret-bob", &s, &err) ==
               0 &&
           strcmp(s.user_id, u->id) == 0 && strcmp(s.user_name, "bob") == 0,
       "bob logs in by name");
    ok(identity_authenticate(svc, u->id, NULL, "secret-bob", &s, &err) == 0,
       "... and by ID");
    ok(refused_alike(svc, NULL, "bob", "wrong"), "a wrong password is refused");
    ok(refused_alike(svc, NULL, "nosuch", "secret-bob"),
       "an unknown user is refused the same way");
    ok(refused_alike(svc, NULL, u->id, "secret-bob"),
       "a user ID given as a name does not log in");
    ok(identity_scope(svc, NULL, "demo", &s, &err) == 0 && s.member &&
           !s.admin && strcmp(s.project_id, demo->id) == 0,
       "bob is scoped to demo as a member");
    t = s;
    ok(identity_scope(svc, NULL, "admin", &t, &err) < 0 &&
           error_get_class(err) == ERR_NOT_FOUND,
       "bob cannot scope to a project he holds no role on");
    error_free(err);
    err = NULL;

    /* Tokens. */
    hash_of("token-one", h1);
    hash_of("token-two", h2);
    hash_of("token-old", h3);
    s.methods = IDENTITY_BY_PASSWORD;
    s.issued_at = now;
    s.expires_at = now + 3600;
    ok(identity_token_add(svc, h1, &s, &err) == 0, "a token is recorded");
    ok(identity_token_add(svc, h1, &s, &err) < 0 &&
           error_get_class(err) == ERR_CONFLICT,
       "... once");
    error_free(err);
    err = NULL;
    memset(&t, 0, sizeof(t));
    ok(identity_token_get(svc, h1, &t, &err) == 0 &&
           strcmp(t.project_id, demo->id) == 0 &&
           strcmp(t.project_name, "demo") == 0 && t.member && !t.admin &&
           t.methods == IDENTITY_BY_PASSWORD && t.expires_at == now + 3600 &&
           t.issued_at == now,
       "the token gives its user, project, roles, methods and times");
    s.methods = IDENTITY_BY_PASSWORD | IDENTITY_BY_TOKEN;
    ok(identity_token_add(svc, h2, &s, &err) == 0 &&
           identity_token_get(svc, h2, &t, &err) == 0 &&
           t.methods == (IDENTITY_BY_PASSWORD | IDENTITY_BY_TOKEN),
       "a second token, with both methods");
    s.issued_at = now - 7200;
    s.expires_at = now - 3600;
    ok(identity_token_add(svc, h3, &s, &err) == 0 &&
           identity_token_get(svc, h3, &t, &err) < 0 &&
           error_get_class(err) == ERR_NOT_FOUND,
       "an expired token is not valid");
    error_free(err);
    err = NULL;
    ok(identity_token_revoke(svc, h1, &err) == 0 &&
           identity_token_get(svc, h1, &t, &err) < 0,
       "a revoked token is not valid (logout)");
    error_free(err);
    err = NULL;
    ok(identity_user_set_password(svc, admin, "bob", "new-secret", &err) ==
               0 &&
           identity_token_get(svc, h2, &t, &err) < 0,
       "a password change revokes the user's tokens");
    error_free(err);
    err = NULL;
    ok(refused_alike(svc, NULL, "bob", "secret-bob") &&
           identity_authenticate(svc, NULL, "bob", "new-secret", &s, &err) ==
               0,
       "the old password no longer works, the new one does");
    ok(identity_user_set_enabled(svc, admin, "bob", false, &err) == 0 &&
           refused_alike(svc, NULL, "bob", "new-secret"),
       "a disabled user cannot log in");
    ok(identity_user_set_enabled(svc, admin, "bob", true, &err) == 0,
       "... until enabled again");
    ok(identity_projects_of(svc, u->id, &plist, &n, &err) == 0 && n == 1 &&
           strcmp(plist[0]->name, "demo") == 0,
       "bob's projects: demo");
    project_list_free(plist, n);

    /* A project that owns records stays. */
    {
        struct caller bob = {u->id, demo->id, false, NULL};
        struct volumes_new vn = {.name = "v1", .size = 1 << 20};
        struct volume *v = NULL;

        ok(volumes_create(svc, &bob, &vn, &v, &err) == 0,
           "bob makes a volume in demo");
        ok(identity_project_delete(svc, admin, "demo", &err) < 0 &&
               error_get_class(err) == ERR_CONFLICT &&
               strstr(error_msg(err), "1 volumes") != NULL,
           "a project that owns a volume cannot be deleted");
        error_free(err);
        err = NULL;
        ok(volumes_delete(svc, &bob, "v1", &err) == 0 &&
               identity_project_delete(svc, admin, "demo", &err) == 0,
           "once it owns nothing it can");
        volume_free(v);
        struct user *again = NULL;

        ok(identity_user_find(svc, admin, "bob", &again, &err) == 0 &&
               again->default_project_id == NULL,
           "the user stays, without its project");
        user_free(again);
    }
    ok(identity_user_delete(svc, admin, "bob", &err) == 0 &&
           refused_alike(svc, NULL, "bob", "new-secret"),
       "a deleted user cannot log in");

    user_free(u);
    project_free(demo);
    svc_close(svc);
    config_free(cfg);
    {
        const char *argv[] = {"rm", "-rf", data_dir, NULL};

        run_check(argv, 60000, NULL, NULL);
    }
    return tap_done();
}
