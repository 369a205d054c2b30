/* vmsnap command line: "server ..." commands (the Nova verbs of the
 * openstack client).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup.h"
#include "cleanup.h"
#include "cli.h"
#include "images.h"
#include "progress-bar.h"
#include "servers.h"
#include "snapshot.h"
#include "runner.h"
#include "task.h"
#include "views.h"
#include "xalloc.h"
#include "xjson.h"

/* How long --no-wait waits for a snapshot's point in time to be fixed. */
#define SERVER_POINT_TIMEOUT_MS 600000

static const char *const server_fields[] = {
    "accel",       "agent",  "cpus",       "created_at", "fault",
    "host",        "id",     "image",      "managed",    "memory_mb",
    "name",        "pid",    "power_state", "project_id", "status",
    "task_state",  "updated_at", NULL,
};

/* A member of member OUTER of VIEW (a new reference, or NULL). */
static json_object *
server_sub(json_object *view, const char *outer, const char *key)
{
    return cli_take(cli_get(view, outer), key);
}

/* The show form of a server, from its Nova view. */
static struct output *
server_form(json_object *v)
{
    struct output *out = output_new_show();
    json_object *agent = cli_get(v, "vmsnap:agent");

    output_add_field(out, "accel", cli_take(v, "vmsnap:accel"));
    output_add_field(out, "agent",
                     xjson_string(json_object_get_boolean(agent) ? "yes"
                                                                 : "no"));
    output_add_field(out, "cpus", server_sub(v, "flavor", "vcpus"));
    output_add_field(out, "created_at", cli_take(v, "created"));
    output_add_field(out, "fault", server_sub(v, "fault", "message"));
    output_add_field(out, "host", cli_take(v, "OS-EXT-SRV-ATTR:host"));
    output_add_field(out, "id", cli_take(v, "id"));
    output_add_field(out, "image", server_sub(v, "image", "id"));
    output_add_str(out, "managed",
                   json_object_get_boolean(cli_get(v, "vmsnap:managed"))
                       ? "yes"
                       : "no");
    output_add_field(out, "memory_mb", server_sub(v, "flavor", "ram"));
    output_add_field(out, "name", cli_take(v, "name"));
    output_add_field(out, "pid", cli_take(v, "vmsnap:pid"));
    output_add_field(out, "power_state", cli_take(v, "vmsnap:run_state"));
    output_add_field(out, "project_id", cli_take(v, "tenant_id"));
    output_add_field(out, "status", cli_take(v, "status"));
    output_add_field(out, "task_state", cli_take(v, "OS-EXT-STS:task_state"));
    output_add_field(out, "updated_at", cli_take(v, "updated"));
    return out;
}

/* The view of INST (borrowed), with its state; NULL after an error. */
static json_object *
server_view(struct cli *cli, const struct instance *inst)
{
    struct hv_state st;
    struct error *err = NULL;

    if (servers_state(cli->svc, inst, &st, &err) < 0) {
        cli_fail(cli, err);
        return NULL;
    }
    return view_server(inst, &st);
}

static int
server_print(struct cli *cli, struct instance *inst)
{
    json_object *v = server_view(cli, inst);

    instance_free(inst);
    return v ? cli_show(cli, v, server_form) : 1;
}

static const struct cli_opt server_create_opts[] = {
    {"image", CLI_STR, "IMAGE", "the image to boot (required)", 0, 0},
    {"memory", CLI_INT, "MB", "memory (default: the image's)", 1, 1 << 22},
    {"cpus", CLI_INT, "N", "vCPUs (default: the image's, or 1)", 1, 256},
    {"accel", CLI_STR, "ACCEL", "kvm, tcg or auto", 0, 0},
    {NULL, 0, NULL, NULL, 0, 0},
};

static int
server_create(struct cli *cli, const struct cli_args *a)
{
    struct servers_new spec = {0};
    struct instance *inst = NULL;
    struct error *err = NULL;

    spec.name = a->pos[0];
    spec.image = cli_str(cli, a, "image");
    spec.memory_mb = cli_num(cli, a, "memory", 0);
    spec.cpus = (int)cli_num(cli, a, "cpus", 0);
    spec.accel = cli_str(cli, a, "accel");
    if (spec.image == NULL) {
        return cli_usage(cli, "--image is required");
    }
    if (cli_svc(cli) == NULL) {
        return 1;
    }
    if (servers_create(cli->svc, cli_who(cli), &spec, &inst, &err) < 0) {
        return cli_fail(cli, err);
    }
    return server_print(cli, inst);
}

static const char *const server_list_columns[] = {
    "ID", "Name", "Status", "Image", "Task State", "Power State", "Host",
    NULL,
};

static void
server_row(json_object *v, json_object **row)
{
    row[0] = cli_take(v, "id");
    row[1] = cli_take(v, "name");
    row[2] = cli_take(v, "status");
    row[3] = server_sub(v, "image", "id");
    row[4] = cli_take(v, "OS-EXT-STS:task_state");
    row[5] = cli_take(v, "vmsnap:run_state");
    row[6] = cli_take(v, "OS-EXT-SRV-ATTR:host");
}

static int
server_list(struct cli *cli, const struct cli_args *a)
{
    CLEANUP_FREE json_object **views = NULL;
    struct instance **list = NULL;
    struct error *err = NULL;
    size_t n = 0, i, nv = 0;
    int r = 1;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    if (servers_list(cli->svc, cli_who(cli), &list, &n, &err) < 0) {
        return cli_fail(cli, err);
    }
    views = xcalloc(n + 1, sizeof(*views));
    for (i = 0; i < n; i++) {
        json_object *v = server_view(cli, list[i]);

        if (v == NULL) {
            goto out;
        }
        views[nv++] = v;
    }
    r = cli_list(cli, server_list_columns, views, nv, server_row);
    nv = 0;
out:
    for (i = 0; i < nv; i++) {
        json_object_put(views[i]);
    }
    instance_list_free(list, n);
    return r;
}

static int
server_show(struct cli *cli, const struct cli_args *a)
{
    struct instance *inst = NULL;
    struct error *err = NULL;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    if (servers_find(cli->svc, cli_who(cli), a->pos[0], &inst, &err) < 0) {
        return cli_fail(cli, err);
    }
    return server_print(cli, inst);
}

static const struct cli_opt server_stop_opts[] = {
    {"timeout", CLI_INT, "S", "seconds for a clean shutdown (default 60)", 0,
     3600},
    {NULL, 0, NULL, NULL, 0, 0},
};

/* The simple life-cycle verbs, on every SERVER given. */
static int
server_lifecycle(struct cli *cli, const struct cli_args *a, char verb)
{
    struct error *err = NULL;
    int i, r = 0, t;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    for (i = 0; i < a->npos; i++) {
        const char *ref = a->pos[i];

        switch (verb) {
        case 's':
            t = (int)cli_num(cli, a, "timeout", 60);
            t = servers_stop(cli->svc, cli_who(cli), ref, t, &err);
            break;
        case 'S':
            t = servers_start(cli->svc, cli_who(cli), ref, &err);
            break;
        case 'p':
        case 'u':
            t = servers_pause(cli->svc, cli_who(cli), ref, verb == 'p', &err);
            break;
        default:
            t = servers_delete_flags(cli->svc, cli_who(cli), ref,
                                     cli_flag(cli, a, "force")
                                         ? SERVERS_DELETE_FORCE
                                         : 0,
                                     &err);
            break;
        }
        if (t < 0) {
            r = cli_fail(cli, err);
            err = NULL;
        }
    }
    return r;
}

static int
server_stop(struct cli *cli, const struct cli_args *a)
{
    return server_lifecycle(cli, a, 's');
}

static int
server_start(struct cli *cli, const struct cli_args *a)
{
    return server_lifecycle(cli, a, 'S');
}

static int
server_pause(struct cli *cli, const struct cli_args *a)
{
    return server_lifecycle(cli, a, 'p');
}

static int
server_unpause(struct cli *cli, const struct cli_args *a)
{
    return server_lifecycle(cli, a, 'u');
}

static const struct cli_opt server_delete_opts[] = {
    {"force", CLI_FLAG, NULL,
     "also a domain vmsnap did not create: undefine it (disks stay)", 0, 0},
    {NULL, 0, NULL, NULL, 0, 0},
};

static int
server_delete(struct cli *cli, const struct cli_args *a)
{
    return server_lifecycle(cli, a, 'd');
}

static const struct cli_opt server_set_opts[] = {
    {"property", CLI_MULTI, "K=V", "set a property (os_require_quiesce)", 0,
     0},
    {NULL, 0, NULL, NULL, 0, 0},
};

static int
server_set(struct cli *cli, const struct cli_args *a)
{
    const char *props[CLI_MAX_MULTI];
    struct error *err = NULL;
    int n, i;

    n = cli_multi(cli, a, "property", props);
    if (n == 0) {
        return cli_usage(cli, "nothing to set: give --property K=V");
    }
    for (i = 0; i < n; i++) {
        if (strchr(props[i], '=') == NULL) {
            return cli_usage(cli, "--property needs KEY=VALUE");
        }
    }
    if (cli_svc(cli) == NULL) {
        return 1;
    }
    for (i = 0; i < n; i++) {
        const char *eq = strchr(props[i], '=');
        CLEANUP_FREE char *key = xstrndup(props[i], (size_t)(eq - props[i]));

        if (servers_set_property(cli->svc, cli_who(cli), a->pos[0], key,
                                 eq + 1, &err) < 0) {
            return cli_fail(cli, err);
        }
    }
    return 0;
}

static int
server_console(struct cli *cli, const struct cli_args *a)
{
    CLEANUP_FREE char *path = NULL;
    CLEANUP_CLOSE int fd = -1;
    struct error *err = NULL;
    char buf[65536];
    ssize_t n;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    if (servers_console_path(cli->svc, cli_who(cli), a->pos[0], &path,
                             &err) < 0) {
        return cli_fail(cli, err);
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error_setg_errno(&err, ERR_IO, errno, "%s", path);
        return cli_fail(cli, err);
    }
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        if (fwrite(buf, 1, n, stdout) != (size_t)n) {
            return 1;
        }
    }
    return n < 0 ? 1 : 0;
}

/* Make the snapshot task T (consumed) of image IMG (consumed) happen: in
 * this process with a progress bar, or with NO_WAIT in a worker, waiting
 * only until its point in time is fixed.  Then show the image.
 */
static int
server_snapshot_finish(struct cli *cli, struct image *img, struct task *t,
                       bool no_wait)
{
    struct error *err = NULL;
    char id[UTIL_UUID_LEN];
    int r;

    snprintf(id, sizeof(id), "%s", img->id);
    image_free(img);
    img = NULL;
    if (no_wait) {
        struct task *now = NULL;

        r = task_spawn(cli->svc, t->id, &err);
        if (r == 0) {
            r = task_wait(cli->svc, t->id, "copy", SERVER_POINT_TIMEOUT_MS,
                          &err);
        }
        /* It may have failed before its point in time was fixed (still
         * preparing): that is this command's failure.  A copy that fails
         * later leaves the image killed, as a background failure.
         */
        if (r == 0 &&
            task_find(cli->svc, cli_who(cli), t->id, &now, &err) == 0 &&
            strcmp(now->state, "failed") == 0 &&
            (now->phase == NULL || strcmp(now->phase, "prepare") == 0)) {
            error_setg(&err, ERR_GENERIC, "%s",
                       now->error ? now->error : "the snapshot failed");
            r = -1;
        }
        task_free(now);
    } else {
        struct progress_bar *bar =
            progress_bar_new(cli_progress_enabled(cli));

        r = runner_run(cli->svc, t->id, 0, progress_bar_reporter(bar), &err);
        progress_bar_free(bar);
    }
    task_free(t);
    if (r < 0) {
        return cli_fail(cli, err);
    }
    if (images_find(cli->svc, cli_who(cli), id, &img, &err) < 0) {
        return cli_fail(cli, err);
    }
    {
        CLEANUP_FREE char *path = NULL;
        json_object *view;

        if (img->location) {
            images_local_path(cli->svc, img, &path, NULL);
        }
        view = view_image(img, path);
        image_free(img);
        return cli_show(cli, view, cli_image_form);
    }
}

static const struct cli_opt server_image_opts[] = {
    {"name", CLI_STR, "NAME", "name of the new image (required)", 0, 0},
    {"wait", CLI_FLAG, NULL, "wait until the image is active (default)", 0,
     0},
    {"no-wait", CLI_FLAG, NULL,
     "return once the point in time is fixed; copy in the background", 0,
     0},
    {"all-volumes", CLI_FLAG, NULL,
     "also every attached volume, at the same instant", 0, 0},
    {"freeze-timeout", CLI_INT, "S",
     "seconds the agent may take to freeze", 1, 600},
    {NULL, 0, NULL, NULL, 0, 0},
};

static int
server_image_create(struct cli *cli, const struct cli_args *a)
{
    struct snapshot_opts so = {0};
    struct image *img = NULL;
    struct task *t = NULL;
    struct error *err = NULL;

    so.name = cli_str(cli, a, "name");
    so.all_volumes = cli_flag(cli, a, "all-volumes");
    so.freeze_timeout_ms = (int)cli_num(cli, a, "freeze-timeout", 0) * 1000;
    if (so.name == NULL) {
        return cli_usage(cli, "--name is required");
    }
    if (cli_svc(cli) == NULL) {
        return 1;
    }
    if (snapshot_request(cli->svc, cli_who(cli), a->pos[0], &so, &img, &t,
                         &err) < 0) {
        return cli_fail(cli, err);
    }
    return server_snapshot_finish(cli, img, t, cli_flag(cli, a, "no-wait"));
}

static const struct cli_opt server_backup_opts[] = {
    {"name", CLI_STR, "NAME", "name of the new backup", 0, 0},
    {"backup-type", CLI_STR, "TYPE", "daily, weekly, ... (required)", 0, 0},
    {"type", CLI_STR, "TYPE", "the same (the openstack client's name)", 0,
     0},
    {"rotation", CLI_INT, "K", "how many backups of the type to keep", 0,
     10000},
    {"rotate", CLI_INT, "K", "the same (the openstack client's name)", 0,
     10000},
    {"all-volumes", CLI_FLAG, NULL,
     "also every attached volume, at the same instant", 0, 0},
    {"freeze-timeout", CLI_INT, "S",
     "seconds the agent may take to freeze", 1, 600},
    {"incremental", CLI_FLAG, NULL,
     "into the chunk store, only what changed since the last backup", 0,
     0},
    {NULL, 0, NULL, NULL, 0, 0},
};

static int
server_backup_create(struct cli *cli, const struct cli_args *a)
{
    struct snapshot_opts so = {0};
    const char *type = cli_str(cli, a, "backup-type");
    int64_t rotation = cli_num(cli, a, "rotation", -1);
    struct image *img = NULL;
    struct task *t = NULL;
    struct error *err = NULL;

    if (type == NULL) {
        type = cli_str(cli, a, "type");
    }
    if (rotation < 0) {
        rotation = cli_num(cli, a, "rotate", -1);
    }
    so.name = cli_str(cli, a, "name");
    so.all_volumes = cli_flag(cli, a, "all-volumes");
    so.freeze_timeout_ms = (int)cli_num(cli, a, "freeze-timeout", 0) * 1000;
    so.incremental = cli_flag(cli, a, "incremental");
    if (type == NULL || rotation < 0 || (rotation > 0 && so.name == NULL)) {
        return cli_usage(cli, "expected --name NAME --backup-type TYPE "
                              "--rotation K");
    }
    if (cli_svc(cli) == NULL) {
        return 1;
    }
    if (backup_request(cli->svc, cli_who(cli), a->pos[0], &so, type,
                       (int)rotation, &img, &t, &err) < 0) {
        return cli_fail(cli, err);
    }
    if (t == NULL) {
        return 0;       /* rotation 0: nothing made, the old ones gone */
    }
    return server_snapshot_finish(cli, img, t, false);
}

const struct cli_command cli_server_commands[] = {
    {"server create", server_create, "NAME", 1, 1, server_create_opts,
     server_fields, "boot a new server from an image", NULL, false},
    {"server list", server_list, "", 0, 0, NULL, server_list_columns,
     "list servers", NULL, false},
    {"server show", server_show, "SERVER", 1, 1, NULL, server_fields,
     "show a server", NULL, false},
    {"server stop", server_stop, "SERVER...", 1, -1, server_stop_opts, NULL,
     "shut servers down (forced after the timeout)", NULL, false},
    {"server start", server_start, "SERVER...", 1, -1, NULL, NULL,
     "start stopped servers", NULL, false},
    {"server pause", server_pause, "SERVER...", 1, -1, NULL, NULL,
     "pause servers", NULL, false},
    {"server unpause", server_unpause, "SERVER...", 1, -1, NULL, NULL,
     "resume paused servers", NULL, false},
    {"server delete", server_delete, "SERVER...", 1, -1, server_delete_opts,
     NULL, "delete servers (their volumes stay)",
     "A server vmsnap created goes with its domain and root disk.  A\n"
     "libvirt domain vmsnap did not create is refused unless --force: its\n"
     "domain is then powered off and undefined; its disks are never\n"
     "deleted.",
     false},
    {"server set", server_set, "SERVER", 1, 1, server_set_opts, NULL,
     "set a server's properties",
     "os_require_quiesce=yes|no: refuse snapshots that cannot be quiesced.\n"
     "On a libvirt domain vmsnap did not create, it is written into the\n"
     "domain's definition (vmsnap's <metadata>).",
     false},
    {"server console", server_console, "SERVER", 1, 1, NULL, NULL,
     "print a server's serial console log", NULL, false},
    {"server image create", server_image_create, "SERVER", 1, 1,
     server_image_opts, NULL, "snapshot a server into a new image",
     "Live when it runs: quiesced through the guest agent, every disk at\n"
     "one instant, the copy in the background of the guest.  Cold when it\n"
     "is stopped.",
     false},
    {"server backup create", server_backup_create, "SERVER", 1, 1,
     server_backup_opts, NULL,
     "back a server up, keeping the K newest of that type",
     "Keeps the K newest backups of SERVER of that type; K=0 makes none "
     "and\ndeletes them all.",
     false},
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, false},
};
