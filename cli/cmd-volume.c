/* vmsnap command line: "volume ..." commands (the Cinder verbs of the
 * openstack client) and "server add/remove volume".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cli.h"
#include "servers.h"
#include "views.h"
#include "volumes.h"
#include "xalloc.h"

static const char *const volume_fields[] = {
    "attached_to", "created_at",      "device_index",       "file",
    "id",          "metadata",        "name",               "project_id",
    "size",        "source_image_id", "source_snapshot_id", "status",
    "updated_at",  NULL,
};

static const char *const volume_snapshot_fields[] = {
    "created_at", "file",   "id",         "metadata", "name",
    "project_id", "size",   "status",     "updated_at", "volume_id", NULL,
};

/* The server a volume view's first attachment names (new ref or NULL). */
static json_object *
volume_attached_to(json_object *v)
{
    json_object *att = cli_get(v, "attachments");

    if (att && json_object_array_length(att) > 0) {
        return cli_take(json_object_array_get_idx(att, 0), "server_id");
    }
    return NULL;
}

static struct output *
volume_form(json_object *v)
{
    struct output *out = output_new_show();

    output_add_field(out, "attached_to", volume_attached_to(v));
    output_add_field(out, "created_at", cli_take(v, "created_at"));
    output_add_field(out, "device_index", cli_take(v, "vmsnap:device_index"));
    output_add_field(out, "file", cli_take(v, "vmsnap:file"));
    output_add_field(out, "id", cli_take(v, "id"));
    output_add_field(out, "metadata", cli_take(v, "metadata"));
    output_add_field(out, "name", cli_take(v, "name"));
    output_add_field(out, "project_id",
                     cli_take(v, "os-vol-tenant-attr:tenant_id"));
    output_add_field(out, "size", cli_take(v, "vmsnap:size_bytes"));
    output_add_field(out, "source_image_id",
                     cli_take(v, "vmsnap:source_image_id"));
    output_add_field(out, "source_snapshot_id", cli_take(v, "snapshot_id"));
    output_add_field(out, "status", cli_take(v, "status"));
    output_add_field(out, "updated_at", cli_take(v, "updated_at"));
    return out;
}

static struct output *
volume_snapshot_form(json_object *v)
{
    struct output *out = output_new_show();

    output_add_field(out, "created_at", cli_take(v, "created_at"));
    output_add_field(out, "file", cli_take(v, "vmsnap:file"));
    output_add_field(out, "id", cli_take(v, "id"));
    output_add_field(out, "metadata", cli_take(v, "metadata"));
    output_add_field(out, "name", cli_take(v, "name"));
    output_add_field(out, "project_id",
                     cli_take(v, "os-extended-snapshot-attributes:"
                                 "project_id"));
    output_add_field(out, "size", cli_take(v, "vmsnap:size_bytes"));
    output_add_field(out, "status", cli_take(v, "status"));
    output_add_field(out, "updated_at", cli_take(v, "updated_at"));
    output_add_field(out, "volume_id", cli_take(v, "volume_id"));
    return out;
}

static const struct cli_opt volume_create_opts[] = {
    {"size", CLI_SIZE, "SIZE", "a new empty volume (1G, 512M)", 0, 0},
    {"snapshot", CLI_STR, "VOLSNAP", "a copy of a volume snapshot", 0, 0},
    {"image", CLI_STR, "IMAGE", "a copy of an image", 0, 0},
    {NULL, 0, NULL, NULL, 0, 0},
};

static int
volume_create(struct cli *cli, const struct cli_args *a)
{
    struct volumes_new spec = {0};
    struct volume *v = NULL;
    struct error *err = NULL;
    char id[UTIL_UUID_LEN];
    json_object *view;

    spec.name = a->pos[0];
    spec.size = cli_num(cli, a, "size", 0);
    spec.snapshot = cli_str(cli, a, "snapshot");
    spec.image = cli_str(cli, a, "image");
    if (cli_flag(cli, a, "size") && spec.size <= 0) {
        return cli_usage(cli, "--size must be more than 0");
    }
    if (cli_svc(cli) == NULL) {
        return 1;
    }
    if (volumes_create(cli->svc, cli_who(cli), &spec, &v, &err) < 0) {
        return cli_fail(cli, err);
    }
    snprintf(id, sizeof(id), "%s", v->id);
    volume_free(v);
    v = NULL;
    /* Read it back as "volume show" would, with its file. */
    if (volumes_find(cli->svc, cli_who(cli), id, &v, &err) < 0) {
        return cli_fail(cli, err);
    }
    view = view_volume(v);
    volume_free(v);
    return cli_show(cli, view, volume_form);
}

static const char *const volume_list_columns[] = {
    "ID", "Name", "Status", "Size", "Attached to", NULL,
};

static void
volume_row(json_object *v, json_object **row)
{
    row[0] = cli_take(v, "id");
    row[1] = cli_take(v, "name");
    row[2] = cli_take(v, "status");
    row[3] = cli_take(v, "vmsnap:size_bytes");
    row[4] = volume_attached_to(v);
}

static int
volume_list(struct cli *cli, const struct cli_args *a)
{
    CLEANUP_FREE json_object **views = NULL;
    struct volume **list = NULL;
    struct error *err = NULL;
    size_t n = 0, i;
    int r;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    if (volumes_list(cli->svc, cli_who(cli), &list, &n, &err) < 0) {
        return cli_fail(cli, err);
    }
    views = xcalloc(n + 1, sizeof(*views));
    for (i = 0; i < n; i++) {
        views[i] = view_volume(list[i]);
    }
    r = cli_list(cli, volume_list_columns, views, n, volume_row);
    volume_list_free(list, n);
    return r;
}

static int
volume_show(struct cli *cli, const struct cli_args *a)
{
    struct volume *v = NULL;
    struct error *err = NULL;
    json_object *view;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    if (volumes_find(cli->svc, cli_who(cli), a->pos[0], &v, &err) < 0) {
        return cli_fail(cli, err);
    }
    view = view_volume(v);
    volume_free(v);
    return cli_show(cli, view, volume_form);
}

/* Run FN on every positional argument; the exit status of the worst. */
static int
volume_each(struct cli *cli, const struct cli_args *a,
            int (*fn)(struct svc *, const struct caller *, const char *,
                      struct error **))
{
    struct error *err = NULL;
    int i, r = 0;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    for (i = 0; i < a->npos; i++) {
        if (fn(cli->svc, cli_who(cli), a->pos[i], &err) < 0) {
            r = cli_fail(cli, err);
            err = NULL;
        }
    }
    return r;
}

static int
volume_delete(struct cli *cli, const struct cli_args *a)
{
    return volume_each(cli, a, volumes_delete);
}

static const char *const volume_snapshot_list_columns[] = {
    "ID", "Name", "Status", "Size", "Volume", "Instance snapshot", NULL,
};

static void
volume_snapshot_row(json_object *v, json_object **row)
{
    row[0] = cli_take(v, "id");
    row[1] = cli_take(v, "name");
    row[2] = cli_take(v, "status");
    row[3] = cli_take(v, "vmsnap:size_bytes");
    row[4] = cli_take(v, "volume_id");
    row[5] = cli_take(cli_get(v, "metadata"), "instance_snapshot_id");
}

static int
volume_snapshot_list(struct cli *cli, const struct cli_args *a)
{
    CLEANUP_FREE json_object **views = NULL;
    struct volume_snapshot **list = NULL;
    struct error *err = NULL;
    size_t n = 0, i;
    int r;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    if (volumes_snapshot_list(cli->svc, cli_who(cli), NULL, &list, &n,
                              &err) < 0) {
        return cli_fail(cli, err);
    }
    views = xcalloc(n + 1, sizeof(*views));
    for (i = 0; i < n; i++) {
        views[i] = view_volume_snapshot(list[i], NULL);
    }
    r = cli_list(cli, volume_snapshot_list_columns, views, n,
                 volume_snapshot_row);
    volume_snapshot_list_free(list, n);
    return r;
}

static int
volume_snapshot_show(struct cli *cli, const struct cli_args *a)
{
    struct volume_snapshot *vs = NULL;
    struct error *err = NULL;
    CLEANUP_FREE char *path = NULL;
    json_object *view;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    if (volumes_snapshot_find(cli->svc, cli_who(cli), a->pos[0], &vs,
                              &err) < 0) {
        return cli_fail(cli, err);
    }
    if (vs->location) {
        volumes_snapshot_path(cli->svc, vs, &path, NULL);
    }
    view = view_volume_snapshot(vs, path);
    volume_snapshot_free(vs);
    return cli_show(cli, view, volume_snapshot_form);
}

static int
volume_snapshot_delete(struct cli *cli, const struct cli_args *a)
{
    return volume_each(cli, a, volumes_snapshot_delete);
}

static int
server_add_volume(struct cli *cli, const struct cli_args *a)
{
    struct error *err = NULL;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    if (servers_attach_volume(cli->svc, cli_who(cli), a->pos[0], a->pos[1],
                              &err) < 0) {
        return cli_fail(cli, err);
    }
    return 0;
}

static int
server_remove_volume(struct cli *cli, const struct cli_args *a)
{
    struct error *err = NULL;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    if (servers_detach_volume(cli->svc, cli_who(cli), a->pos[0], a->pos[1],
                              &err) < 0) {
        return cli_fail(cli, err);
    }
    return 0;
}

const struct cli_command cli_volume_commands[] = {
    {"volume create", volume_create, "NAME", 1, 1, volume_create_opts,
     volume_fields, "create a volume: empty, or from a snapshot or image",
     "Give exactly one of --size, --snapshot and --image.", false},
    {"volume list", volume_list, "", 0, 0, NULL, volume_list_columns,
     "list volumes", NULL, false},
    {"volume show", volume_show, "VOLUME", 1, 1, NULL, volume_fields,
     "show a volume", NULL, false},
    {"volume delete", volume_delete, "VOLUME...", 1, -1, NULL, NULL,
     "delete detached volumes that have no snapshots", NULL, false},
    {"volume snapshot list", volume_snapshot_list, "", 0, 0, NULL,
     volume_snapshot_list_columns, "list volume snapshots", NULL, false},
    {"volume snapshot show", volume_snapshot_show, "VOLUME-SNAPSHOT", 1, 1,
     NULL, volume_snapshot_fields, "show a volume snapshot", NULL, false},
    {"volume snapshot delete", volume_snapshot_delete, "VOLUME-SNAPSHOT...",
     1, -1, NULL, NULL, "delete volume snapshots nothing uses", NULL,
     false},
    {"server add volume", server_add_volume, "SERVER VOLUME", 2, 2, NULL,
     NULL, "attach a volume (hot-plugged if the server runs)", NULL, false},
    {"server remove volume", server_remove_volume, "SERVER VOLUME", 2, 2,
     NULL, NULL, "detach a volume (hot-unplugged if the server runs)", NULL,
     false},
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, false},
};
