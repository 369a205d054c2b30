/* vmsnap command line: "config show": the settings in effect, after the
 * file and the environment (config.h).
 */
#include <stdio.h>

#include "cli.h"
#include "xjson.h"

static const char *const config_columns[] = {"Name", "Value", "Help", NULL};

struct config_rows {
    struct output *out;     /* the list being filled */
};

static void
config_add_row(const char *name, const char *value, const char *help,
               void *opaque)
{
    struct config_rows *rows = opaque;
    json_object *row[3] = {
        xjson_string(name),
        xjson_string(value),
        xjson_string(help),
    };

    output_add_row(rows->out, row);
}

static int
config_show(struct cli *cli, const struct cli_args *a)
{
    struct config_rows rows = {output_new_list(config_columns)};
    struct error *err = NULL;
    int r;

    config_foreach(cli->cfg, config_add_row, &rows);
    r = output_print(rows.out, stdout, cli->format,
                     cli->columns[0] ? cli->columns : NULL, &err);
    output_free(rows.out);
    return r < 0 ? cli_fail(cli, err) : 0;
}

const struct cli_command cli_config_commands[] = {
    {"config show", config_show, "", 0, 0, NULL, config_columns,
     "show the settings in effect and where they can be set",
     "Settings come from /etc/vmsnap/vmsnap.conf (or --config FILE), "
     "then\nthe VMSNAP_* environment, then the command line.",
     false},
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, false},
};
