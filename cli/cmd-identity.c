/* vmsnap command line: "user ...", "project ..." and "openrc": the
 * accounts of the REST API (vmsnapd), made locally by the administrator
 * of the host, and the openrc file that points the openstack client at
 * the daemon.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cli.h"
#include "identity.h"
#include "password.h"
#include "xalloc.h"
#include "xjson.h"

static const char *const user_fields[] = {
    "created_at", "enabled", "id", "name", "project", "project_id", "roles",
    NULL,
};
static const char *const user_list_columns[] = {
    "ID", "Name", "Project", "Roles", "Enabled", NULL,
};
static const char *const project_fields[] = {
    "created_at", "description", "enabled", "id", "name", NULL,
};
static const char *const project_list_columns[] = {
    "ID", "Name", "Description", "Enabled", NULL,
};

/* Read the password from FILE ("-": standard input): its first line,
 * without the line end.  Caller frees.  NULL after printing why.
 */
static char *
identity_read_password(const struct cli *cli, const char *file)
{
    char buf[PASSWORD_MAX_LEN + 3];
    FILE *fp = strcmp(file, "-") == 0 ? stdin : fopen(file, "re");
    size_t n;

    if (fp == NULL) {
        fprintf(stderr, "vmsnap %s: %s: %s\n", cli->cmd->words, file,
                strerror(errno));
        return NULL;
    }
    if (fgets(buf, sizeof(buf), fp) == NULL) {
        buf[0] = '\0';
    }
    if (fp != stdin) {
        fclose(fp);
    }
    n = strcspn(buf, "\r\n");
    if (n > PASSWORD_MAX_LEN) {
        fprintf(stderr, "vmsnap %s: %s: the password is longer than %d "
                "bytes\n", cli->cmd->words, file, PASSWORD_MAX_LEN);
        return NULL;
    }
    buf[n] = '\0';
    if (n == 0) {
        fprintf(stderr, "vmsnap %s: %s: the password is empty\n",
                cli->cmd->words, file);
        return NULL;
    }
    return xstrdup(buf);
}

/* Overwrite and free a password. */
static void
identity_forget(char *password)
{
    if (password) {
        explicit_bzero(password, strlen(password));
        free(password);
    }
}

static const char *
identity_roles_text(bool admin, bool member)
{
    return admin ? "admin, member" : member ? "member" : "";
}

/* Show USER (consumed) with its project P (consumed, may be NULL). */
static int
identity_user_print(struct cli *cli, struct user *u, struct project *p,
                    bool admin, bool member)
{
    struct output *out = output_new_show();
    int r;

    output_add_str(out, "created_at", u->created_at);
    output_add_field(out, "enabled", xjson_bool(u->enabled));
    output_add_str(out, "id", u->id);
    output_add_str(out, "name", u->name);
    output_add_str(out, "project", p ? p->name : NULL);
    output_add_str(out, "project_id", u->default_project_id);
    output_add_str(out, "roles", identity_roles_text(admin, member));
    user_free(u);
    project_free(p);
    r = output_print(out, stdout, cli->format, cli->columns, NULL);
    output_free(out);
    return r < 0 ? 1 : 0;
}

static const struct cli_opt user_create_opts[] = {
    {"project", CLI_STR, "PROJECT", "the project it works in (required)", 0,
     0},
    {"password-file", CLI_STR, "FILE",
     "read the password from FILE's first line (-: standard input)", 0, 0},
    {"admin", CLI_FLAG, NULL, "an administrator (sees every project)", 0, 0},
    {NULL, 0, NULL, NULL, 0, 0},
};

static int
user_create(struct cli *cli, const struct cli_args *a)
{
    struct identity_user_new spec = {0};
    const char *file = cli_str(cli, a, "password-file");
    struct project *p = NULL;
    struct user *u = NULL;
    struct error *err = NULL;
    char *password;
    int r;

    spec.name = a->pos[0];
    spec.project = cli_str(cli, a, "project");
    spec.admin = cli_flag(cli, a, "admin");
    if (spec.project == NULL || file == NULL) {
        return cli_usage(cli, "--project and --password-file are required");
    }
    if (cli_svc(cli) == NULL) {
        return 1;
    }
    password = identity_read_password(cli, file);
    if (password == NULL) {
        return 1;
    }
    spec.password = password;
    r = identity_user_create(cli->svc, cli_who(cli), &spec, &u, &err);
    identity_forget(password);
    if (r < 0 ||
        identity_project_find(cli->svc, cli_who(cli), u->default_project_id,
                              &p, &err) < 0) {
        user_free(u);
        return cli_fail(cli, err);
    }
    return identity_user_print(cli, u, p, spec.admin, true);
}

static int
user_list(struct cli *cli, const struct cli_args *a)
{
    struct output *out = output_new_list(user_list_columns);
    struct identity_user_info *list = NULL;
    struct error *err = NULL;
    size_t n = 0, i;
    int r;

    (void)a;
    if (cli_svc(cli) == NULL ||
        identity_user_list(cli->svc, cli_who(cli), &list, &n, &err) < 0) {
        output_free(out);
        return err ? cli_fail(cli, err) : 1;
    }
    for (i = 0; i < n; i++) {
        json_object *row[5];

        row[0] = xjson_string(list[i].user->id);
        row[1] = xjson_string(list[i].user->name);
        row[2] = list[i].project
                     ? xjson_string(list[i].project->name)
                     : NULL;
        row[3] = xjson_string(
            identity_roles_text(list[i].admin, list[i].member));
        row[4] = xjson_bool(list[i].user->enabled);
        output_add_row(out, row);
    }
    identity_user_info_free(list, n);
    r = output_print(out, stdout, cli->format, cli->columns, &err);
    output_free(out);
    return r < 0 ? cli_fail(cli, err) : 0;
}

static int
user_delete(struct cli *cli, const struct cli_args *a)
{
    struct error *err = NULL;
    int i, r = 0;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    for (i = 0; i < a->npos; i++) {
        if (identity_user_delete(cli->svc, cli_who(cli), a->pos[i], &err) <
            0) {
            r = cli_fail(cli, err);
            err = NULL;
        }
    }
    return r;
}

static const struct cli_opt user_set_opts[] = {
    {"password-file", CLI_STR, "FILE",
     "a new password from FILE's first line (-: standard input); the "
     "user's tokens are revoked", 0, 0},
    {"enable", CLI_FLAG, NULL, "let the user log in", 0, 0},
    {"disable", CLI_FLAG, NULL, "refuse its logins, revoke its tokens", 0,
     0},
    {NULL, 0, NULL, NULL, 0, 0},
};

static int
user_set(struct cli *cli, const struct cli_args *a)
{
    const char *file = cli_str(cli, a, "password-file");
    bool enable = cli_flag(cli, a, "enable");
    bool disable = cli_flag(cli, a, "disable");
    struct error *err = NULL;
    char *password;
    int r;

    if (enable && disable) {
        return cli_usage(cli, "--enable and --disable exclude each other");
    }
    if (file == NULL && !enable && !disable) {
        return cli_usage(cli, "nothing to set");
    }
    if (cli_svc(cli) == NULL) {
        return 1;
    }
    if (file) {
        password = identity_read_password(cli, file);
        if (password == NULL) {
            return 1;
        }
        r = identity_user_set_password(cli->svc, cli_who(cli), a->pos[0],
                                       password, &err);
        identity_forget(password);
        if (r < 0) {
            return cli_fail(cli, err);
        }
    }
    if ((enable || disable) &&
        identity_user_set_enabled(cli->svc, cli_who(cli), a->pos[0], enable,
                                  &err) < 0) {
        return cli_fail(cli, err);
    }
    return 0;
}

static int
project_print(struct cli *cli, struct project *p)
{
    struct output *out = output_new_show();
    int r;

    output_add_str(out, "created_at", p->created_at);
    output_add_str(out, "description", p->description);
    output_add_field(out, "enabled", xjson_bool(p->enabled));
    output_add_str(out, "id", p->id);
    output_add_str(out, "name", p->name);
    project_free(p);
    r = output_print(out, stdout, cli->format, cli->columns, NULL);
    output_free(out);
    return r < 0 ? 1 : 0;
}

static const struct cli_opt project_create_opts[] = {
    {"description", CLI_STR, "TEXT", "what the project is for", 0, 0},
    {NULL, 0, NULL, NULL, 0, 0},
};

static int
project_create(struct cli *cli, const struct cli_args *a)
{
    struct project *p = NULL;
    struct error *err = NULL;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    if (identity_project_create(cli->svc, cli_who(cli), a->pos[0],
                                cli_str(cli, a, "description"), &p,
                                &err) < 0) {
        return cli_fail(cli, err);
    }
    return project_print(cli, p);
}

static int
project_list(struct cli *cli, const struct cli_args *a)
{
    struct output *out = output_new_list(project_list_columns);
    struct project **list = NULL;
    struct error *err = NULL;
    size_t n = 0, i;
    int r;

    (void)a;
    if (cli_svc(cli) == NULL ||
        identity_project_list(cli->svc, cli_who(cli), &list, &n, &err) < 0) {
        output_free(out);
        return err ? cli_fail(cli, err) : 1;
    }
    for (i = 0; i < n; i++) {
        json_object *row[4];

        row[0] = xjson_string(list[i]->id);
        row[1] = xjson_string(list[i]->name);
        row[2] = list[i]->description
                     ? xjson_string(list[i]->description)
                     : NULL;
        row[3] = xjson_bool(list[i]->enabled);
        output_add_row(out, row);
    }
    project_list_free(list, n);
    r = output_print(out, stdout, cli->format, cli->columns, &err);
    output_free(out);
    return r < 0 ? cli_fail(cli, err) : 0;
}

static int
project_delete(struct cli *cli, const struct cli_args *a)
{
    struct error *err = NULL;
    int i, r = 0;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    for (i = 0; i < a->npos; i++) {
        if (identity_project_delete(cli->svc, cli_who(cli), a->pos[i],
                                    &err) < 0) {
            r = cli_fail(cli, err);
            err = NULL;
        }
    }
    return r;
}

/* The URL of the daemon as the configuration describes it: its public
 * URL, else its listen address (a wildcard address as localhost).
 * Caller frees.
 */
static char *
identity_daemon_url(const struct config *cfg)
{
    const char *listen = cfg->listen;
    const char *colon = strrchr(listen, ':');
    const char *scheme = cfg->tls_cert[0] ? "https" : "http";
    size_t hlen = colon ? (size_t)(colon - listen) : strlen(listen);

    if (cfg->public_url[0]) {
        size_t n = strlen(cfg->public_url);

        while (n > 0 && cfg->public_url[n - 1] == '/') {
            n--;
        }
        return xasprintf("%.*s", (int)n, cfg->public_url);
    }
    if ((hlen == 7 && strncmp(listen, "0.0.0.0", 7) == 0) ||
        (hlen == 4 && strncmp(listen, "[::]", 4) == 0)) {
        return xasprintf("%s://localhost%s", scheme, colon ? colon : "");
    }
    return xasprintf("%s://%s", scheme, listen);
}

/* Print VALUE for sh inside single quotes. */
static void
identity_sh_quote(FILE *fp, const char *value)
{
    const char *p;

    fputc('\'', fp);
    for (p = value; *p; p++) {
        if (*p == '\'') {
            fputs("'\\''", fp);
        } else {
            fputc(*p, fp);
        }
    }
    fputc('\'', fp);
}

static void
identity_export(FILE *fp, const char *name, const char *value)
{
    fprintf(fp, "export %s=", name);
    identity_sh_quote(fp, value);
    fputc('\n', fp);
}

static const struct cli_opt openrc_opts[] = {
    {"url", CLI_STR, "URL",
     "the daemon's URL (default: daemon.public_url, else daemon.listen)", 0,
     0},
    {"project", CLI_STR, "PROJECT", "scope to this project (default: the "
     "user's)", 0, 0},
    {NULL, 0, NULL, NULL, 0, 0},
};

static int
openrc(struct cli *cli, const struct cli_args *a)
{
    const char *url = cli_str(cli, a, "url");
    const char *pref = cli_str(cli, a, "project");
    CLEANUP_FREE char *base = NULL;
    CLEANUP_FREE char *auth = NULL;
    struct project *p = NULL;
    struct user *u = NULL;
    struct error *err = NULL;
    size_t n;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    if (identity_user_find(cli->svc, cli_who(cli), a->pos[0], &u, &err) <
            0 ||
        ((pref || u->default_project_id) &&
         identity_project_find(cli->svc, cli_who(cli),
                               pref ? pref : u->default_project_id, &p,
                               &err) < 0)) {
        user_free(u);
        return cli_fail(cli, err);
    }
    if (p == NULL) {
        user_free(u);
        fprintf(stderr, "vmsnap openrc: user %s has no project: give "
                "--project\n", a->pos[0]);
        return 1;
    }
    base = url ? xstrdup(url) : identity_daemon_url(cli->cfg);
    n = strlen(base);
    while (n > 0 && base[n - 1] == '/') {
        base[--n] = '\0';
    }
    /* --url may name the identity endpoint itself. */
    if (n >= 12 && strcmp(base + n - 12, "/identity/v3") == 0) {
        auth = xstrdup(base);
    } else {
        auth = xasprintf("%s/identity/v3", base);
    }
    printf("# openrc for vmsnapd: source it, then run the openstack "
           "client.\n"
           "# The password is not in this file: it is asked for when the\n"
           "# file is sourced, unless OS_PASSWORD is set already.\n");
    identity_export(stdout, "OS_AUTH_URL", auth);
    identity_export(stdout, "OS_IDENTITY_API_VERSION", "3");
    identity_export(stdout, "OS_USERNAME", u->name);
    identity_export(stdout, "OS_PROJECT_NAME", p->name);
    identity_export(stdout, "OS_USER_DOMAIN_NAME", "Default");
    identity_export(stdout, "OS_PROJECT_DOMAIN_NAME", "Default");
    identity_export(stdout, "OS_REGION_NAME", "RegionOne");
    identity_export(stdout, "OS_INTERFACE", "public");
    printf("unset OS_PROJECT_ID OS_TENANT_ID OS_TENANT_NAME OS_TOKEN "
           "OS_CLOUD\n"
           "if [ -z \"${OS_PASSWORD:-}\" ]; then\n"
           "    printf 'Password of %%s for project %%s: ' \"$OS_USERNAME\" "
           "\"$OS_PROJECT_NAME\" >&2\n"
           "    stty -echo 2>/dev/null\n"
           "    read -r OS_PASSWORD\n"
           "    stty echo 2>/dev/null\n"
           "    echo >&2\n"
           "    export OS_PASSWORD\n"
           "fi\n");
    user_free(u);
    project_free(p);
    return fflush(stdout) == 0 ? 0 : 1;
}

const struct cli_command cli_identity_commands[] = {
    {"user create", user_create, "NAME", 1, 1, user_create_opts, user_fields,
     "create a user of the REST API",
     "The user gets role member on PROJECT (and admin with --admin).  The\n"
     "password is read from a file so that it never shows in a process\n"
     "list; it is stored as a PBKDF2 hash.",
     false},
    {"user list", user_list, "", 0, 0, NULL, user_list_columns,
     "list the users of the REST API", NULL, false},
    {"user set", user_set, "USER", 1, 1, user_set_opts, NULL,
     "change a user's password, or enable or disable it", NULL, false},
    {"user delete", user_delete, "USER...", 1, -1, NULL, NULL,
     "delete users (their tokens stop working at once)", NULL, false},
    {"project create", project_create, "NAME", 1, 1, project_create_opts,
     project_fields, "create a project (a tenant of the REST API)", NULL,
     false},
    {"project list", project_list, "", 0, 0, NULL, project_list_columns,
     "list projects", NULL, false},
    {"project delete", project_delete, "PROJECT...", 1, -1, NULL, NULL,
     "delete projects that own nothing", NULL, false},
    {"openrc", openrc, "USER", 1, 1, openrc_opts, NULL,
     "print an openrc file for the openstack client",
     "Source it (. ./openrc) and the openstack client talks to vmsnapd as\n"
     "USER.  It holds no password: sourcing it asks for one unless\n"
     "OS_PASSWORD is already set.",
     false},
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, false},
};
