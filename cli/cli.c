/* vmsnap command line: helpers shared by the command modules. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "recover.h"
#include "escape.h"
#include "xalloc.h"
#include "xjson.h"

struct svc *
cli_svc(struct cli *cli)
{
    struct error *err = NULL;

    if (cli->svc == NULL) {
        cli->svc = svc_open(cli->cfg, &err);
        if (cli->svc == NULL) {
            cli_fail(cli, err);
        } else {
            recover_all(cli->svc);
        }
    }
    return cli->svc;
}

const struct caller *
cli_who(struct cli *cli)
{
    return svc_local_caller(cli->svc);
}

int
cli_fail(const struct cli *cli, struct error *err)
{
    if (err) {
        CLEANUP_FREE char *msg = escape_text(error_msg(err));

        fprintf(stderr, "vmsnap %s: %s\n", cli->cmd ? cli->cmd->words : "",
                msg);
        error_free(err);
    }
    return 1;
}

int
cli_usage(const struct cli *cli, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "vmsnap %s: ", cli->cmd ? cli->cmd->words : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see vmsnap %s --help)\n",
            cli->cmd ? cli->cmd->words : "");
    return 2;
}

int
cli_parse_properties(const char *const *args, int n, struct prop *props,
                     char **keep, struct error **errp)
{
    int i;

    for (i = 0; i < n; i++) {
        const char *eq = strchr(args[i], '=');

        keep[i] = NULL;
        if (eq == NULL || eq == args[i]) {
            error_setg(errp, ERR_INVALID,
                       "bad property '%s': expected KEY=VALUE", args[i]);
            while (i-- > 0) {
                free(keep[i]);
            }
            return -1;
        }
        keep[i] = xstrdup(args[i]);
        keep[i][eq - args[i]] = '\0';
        props[i].key = keep[i];
        props[i].value = keep[i] + (eq - args[i]) + 1;
    }
    return 0;
}

bool
cli_progress_enabled(const struct cli *cli)
{
    return !cli->quiet && isatty(STDERR_FILENO);
}

/* Print OUT in the format and with the columns the user chose. */
static int
cli_print(struct cli *cli, struct output *out)
{
    struct error *err = NULL;
    int r;

    r = output_print(out, stdout, cli->format,
                     cli->columns[0] ? cli->columns : NULL, &err);
    output_free(out);
    if (r < 0) {
        return cli_fail(cli, err);
    }
    return 0;
}

int
cli_show(struct cli *cli, json_object *view, cli_form_fn form)
{
    struct output *out = form(view);

    json_object_put(view);
    return cli_print(cli, out);
}

int
cli_list(struct cli *cli, const char *const *columns, json_object **views,
         size_t n, cli_row_fn row)
{
    struct output *out = output_new_list(columns);
    json_object *cells[CLI_MAX_COLUMNS];
    size_t i, k, ncols = 0;

    while (columns[ncols] != NULL) {
        ncols++;
    }
    for (i = 0; i < n; i++) {
        memset(cells, 0, sizeof(cells));
        row(views[i], cells);
        /* A row function may fill more cells than a short listing has
         * columns (image list without --long): those are not shown.
         */
        for (k = ncols; k < CLI_MAX_COLUMNS; k++) {
            json_object_put(cells[k]);
        }
        output_add_row(out, cells);
        json_object_put(views[i]);
    }
    return cli_print(cli, out);
}

json_object *
cli_get(json_object *view, const char *key)
{
    json_object *v = NULL;

    json_object_object_get_ex(view, key, &v);
    return v;
}

json_object *
cli_take(json_object *view, const char *key)
{
    return json_object_get(cli_get(view, key));
}

/* The fields of Glance's image body; the rest are properties. */
static const char *const cli_image_base_fields[] = {
    "checksum",   "container_format", "created_at",   "disk_format",
    "fail_reason", "file",            "id",           "min_disk",
    "min_ram",    "name",             "os_hash_algo", "os_hash_value",
    "os_hidden",  "owner",            "protected",    "schema",
    "self",       "size",             "status",       "tags",
    "updated_at", "virtual_size",     "visibility",   NULL,
};

static bool
cli_image_is_field(const char *key)
{
    size_t i;

    for (i = 0; cli_image_base_fields[i]; i++) {
        if (strcmp(key, cli_image_base_fields[i]) == 0) {
            return true;
        }
    }
    return false;
}

json_object *
cli_image_properties(json_object *view)
{
    json_object *props = xjson_object();

    json_object_object_foreach(view, key, val) {
        if (!cli_image_is_field(key)) {
            json_object_object_add(props, key, json_object_get(val));
        }
    }
    return props;
}

/* As the openstack client shows an image: its fields sorted by name,
 * every other member of the body grouped into "properties".
 */
struct output *
cli_image_form(json_object *view)
{
    struct output *out = output_new_show();
    json_object *props = cli_image_properties(view);
    size_t i;

    for (i = 0; cli_image_base_fields[i]; i++) {
        const char *k = cli_image_base_fields[i];

        if (strcmp(k, "schema") == 0 || strcmp(k, "self") == 0 ||
            strcmp(k, "os_hidden") == 0 ||
            (strcmp(k, "fail_reason") == 0 && cli_get(view, k) == NULL)) {
            continue;
        }
        if (strcmp(k, "properties") > 0 && props) {
            output_add_field(out, "properties", props);
            props = NULL;
        }
        output_add_field(out, k, cli_take(view, k));
    }
    if (props) {
        output_add_field(out, "properties", props);
    }
    return out;
}
