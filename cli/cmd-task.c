/* vmsnap command line: "task ..." commands: the long work that every
 * front end can follow (task.h).
 */
#include <stdio.h>

#include "cleanup.h"
#include "cli.h"
#include "task.h"
#include "views.h"
#include "xalloc.h"

static const char *const task_fields[] = {
    "created_at", "error",       "error_class", "finished_at", "id",
    "image_id",   "kind",        "owner",       "phase",       "progress",
    "project_id", "started_at",  "state",       "target_id",   "target_kind",
    "updated_at", "warnings",    NULL,
};

static const char *const task_list_columns[] = {
    "ID", "Kind", "Target", "State", "Phase", "Progress", "Created", NULL,
};

static struct output *
task_form(json_object *v)
{
    struct output *out = output_new_show();
    size_t i;

    for (i = 0; task_fields[i]; i++) {
        output_add_field(out, task_fields[i], cli_take(v, task_fields[i]));
    }
    return out;
}

static void
task_row(json_object *v, json_object **row)
{
    row[0] = cli_take(v, "id");
    row[1] = cli_take(v, "kind");
    row[2] = cli_take(v, "target_id");
    row[3] = cli_take(v, "state");
    row[4] = cli_take(v, "phase");
    row[5] = cli_take(v, "progress");
    row[6] = cli_take(v, "created_at");
}

static const struct cli_opt task_list_opts[] = {
    {"target", CLI_STR, "ID", "only tasks on this server or image", 0, 0},
    {NULL, 0, NULL, NULL, 0, 0},
};

static int
task_list_cmd(struct cli *cli, const struct cli_args *a)
{
    CLEANUP_FREE json_object **views = NULL;
    struct task **list = NULL;
    struct error *err = NULL;
    size_t n = 0, i;
    int r;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    if (task_list(cli->svc, cli_who(cli), cli_str(cli, a, "target"), &list,
                  &n, &err) < 0) {
        return cli_fail(cli, err);
    }
    views = xcalloc(n + 1, sizeof(*views));
    for (i = 0; i < n; i++) {
        views[i] = view_task(list[i]);
    }
    r = cli_list(cli, task_list_columns, views, n, task_row);
    task_list_free(list, n);
    return r;
}

static int
task_show(struct cli *cli, const struct cli_args *a)
{
    struct task *t = NULL;
    struct error *err = NULL;
    json_object *view;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    if (task_find(cli->svc, cli_who(cli), a->pos[0], &t, &err) < 0) {
        return cli_fail(cli, err);
    }
    view = view_task(t);
    task_free(t);
    return cli_show(cli, view, task_form);
}

const struct cli_command cli_task_commands[] = {
    {"task list", task_list_cmd, "", 0, 0, task_list_opts, task_list_columns,
     "list tasks (snapshots, backups, imports, exports), newest first",
     NULL, false},
    {"task show", task_show, "TASK", 1, 1, NULL, task_fields,
     "show a task: its state, progress, warnings and error", NULL, false},
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, false},
};
