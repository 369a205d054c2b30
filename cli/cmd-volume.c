/* vmsnap command line: "volume ..." commands and attaching volumes to
 * servers (the Cinder verbs of the openstack client).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cli.h"
#include "util.h"
#include "volumes.h"

static struct output *
volume_output(const struct volume *v)
{
    struct output *out = output_new_show();

    if (out == NULL) {
        return NULL;
    }
    output_add_field(out, "attached_to", cli_json_str(v->instance_id));
    output_add_field(out, "created_at", cli_json_str(v->created_at));
    output_add_field(out, "device_index",
                     v->device_index >= 0
                         ? json_object_new_int(v->device_index)
                         : NULL);
    output_add_field(out, "file", cli_json_str(v->file));
    output_add_field(out, "id", json_object_new_string(v->id));
    output_add_field(out, "metadata", cli_json_props(v->meta, v->nmeta));
    output_add_field(out, "name", cli_json_str(v->name));
    output_add_field(out, "size", json_object_new_int64(v->size));
    output_add_field(out, "source_image_id",
                     cli_json_str(v->source_image_id));
    output_add_field(out, "source_snapshot_id",
                     cli_json_str(v->source_snapshot_id));
    output_add_field(out, "status", cli_json_str(v->status));
    output_add_field(out, "updated_at", cli_json_str(v->updated_at));
    return out;
}

static struct output *
volume_snapshot_output(const struct volume_snapshot *vs)
{
    struct output *out = output_new_show();

    if (out == NULL) {
        return NULL;
    }
    output_add_field(out, "created_at", cli_json_str(vs->created_at));
    output_add_field(out, "file", cli_json_str(vs->file));
    output_add_field(out, "id", json_object_new_string(vs->id));
    output_add_field(out, "metadata", cli_json_props(vs->meta, vs->nmeta));
    output_add_field(out, "name", cli_json_str(vs->name));
    output_add_field(out, "size", json_object_new_int64(vs->size));
    output_add_field(out, "status", cli_json_str(vs->status));
    output_add_field(out, "updated_at", cli_json_str(vs->updated_at));
    output_add_field(out, "volume_id", cli_json_str(vs->volume_id));
    return out;
}

static struct volume *
cli_find_volume(struct cli *cli, const char *ref)
{
    struct error *err = NULL;
    struct volume *v = NULL;

    if (cli_store(cli) == NULL) {
        return NULL;
    }
    if (catalog_volume_find(store_catalog(cli->store), ref, &v, &err) < 0) {
        cli_fail(cli, err);
        return NULL;
    }
    return v;
}

static struct volume_snapshot *
cli_find_volume_snapshot(struct cli *cli, const char *ref)
{
    struct error *err = NULL;
    struct volume_snapshot *vs = NULL;

    if (cli_store(cli) == NULL) {
        return NULL;
    }
    if (catalog_volume_snapshot_find(store_catalog(cli->store), ref, &vs,
                                     &err) < 0) {
        cli_fail(cli, err);
        return NULL;
    }
    return vs;
}

static int
volume_create(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"size", required_argument, NULL, 's'},
        {"snapshot", required_argument, NULL, 'S'},
        {"image", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct volumes_new spec = {0};
    struct volume *v = NULL;
    struct error *err = NULL;
    int c, r;

    for (c = cli_getopt(argc, argv, "", opts, true); c != -1;
         c = cli_getopt(argc, argv, "", opts, false)) {
        switch (c) {
        case 's':
            if (util_parse_size(optarg, &spec.size, &err) < 0 ||
                spec.size <= 0) {
                error_free(err);
                return cli_usage(cli, "bad --size '%s' (e.g. 1G, 512M)",
                                 optarg);
            }
            break;
        case 'S':
            spec.snapshot = optarg;
            break;
        case 'i':
            spec.image = optarg;
            break;
        case 'h':
            printf("usage: vmsnap volume create NAME --size SIZE | "
                   "--snapshot VOLSNAP | --image IMAGE\n");
            return 0;
        default:
            return 2;
        }
    }
    if (argc - optind != 1) {
        return cli_usage(cli, "expected one volume NAME");
    }
    spec.name = argv[optind];
    if (cli_store(cli) == NULL) {
        return 1;
    }
    if (volumes_create(cli->store, &spec, &v, &err) < 0) {
        return cli_fail(cli, err);
    }
    r = cli_print(cli, volume_output(v));
    volume_free(v);
    return r;
}

static int
volume_list(struct cli *cli, int argc, char **argv)
{
    static const char *const cols[] = {"ID", "Name", "Status", "Size",
                                       "Attached to", NULL};
    struct volume **list = NULL;
    struct error *err = NULL;
    struct output *out;
    size_t n = 0, i;
    int r = cli_positional(cli, argc, argv, 0, "");

    if (r >= 0) {
        return r;
    }
    if (cli_store(cli) == NULL) {
        return 1;
    }
    if (catalog_volume_list(store_catalog(cli->store), NULL, &list, &n,
                            &err) < 0) {
        return cli_fail(cli, err);
    }
    out = output_new_list(cols);
    for (i = 0; out && i < n; i++) {
        json_object *row[5] = {
            json_object_new_string(list[i]->id),
            cli_json_str(list[i]->name),
            cli_json_str(list[i]->status),
            json_object_new_int64(list[i]->size),
            cli_json_str(list[i]->instance_id),
        };

        output_add_row(out, row);
    }
    volume_list_free(list, n);
    return cli_print(cli, out);
}

static int
volume_show(struct cli *cli, int argc, char **argv)
{
    struct volume *v;
    int r = cli_positional(cli, argc, argv, 1, "VOLUME");

    if (r >= 0) {
        return r;
    }
    v = cli_find_volume(cli, argv[optind]);
    if (v == NULL) {
        return 1;
    }
    r = cli_print(cli, volume_output(v));
    volume_free(v);
    return r;
}

static int
volume_delete(struct cli *cli, int argc, char **argv)
{
    struct error *err = NULL;
    struct volume *v;
    int r = cli_positional(cli, argc, argv, 1, "VOLUME");

    if (r >= 0) {
        return r;
    }
    v = cli_find_volume(cli, argv[optind]);
    if (v == NULL) {
        return 1;
    }
    r = volumes_delete(cli->store, v, &err);
    volume_free(v);
    return r < 0 ? cli_fail(cli, err) : 0;
}

static int
volume_snapshot_list(struct cli *cli, int argc, char **argv)
{
    static const char *const cols[] = {"ID", "Name", "Status", "Size",
                                       "Volume", "Instance snapshot", NULL};
    struct volume_snapshot **list = NULL;
    struct error *err = NULL;
    struct output *out;
    size_t n = 0, i;
    int r = cli_positional(cli, argc, argv, 0, "");

    if (r >= 0) {
        return r;
    }
    if (cli_store(cli) == NULL) {
        return 1;
    }
    if (catalog_volume_snapshot_list(store_catalog(cli->store), NULL, 0,
                                     &list, &n, &err) < 0) {
        return cli_fail(cli, err);
    }
    out = output_new_list(cols);
    for (i = 0; out && i < n; i++) {
        json_object *row[6] = {
            json_object_new_string(list[i]->id),
            cli_json_str(list[i]->name),
            cli_json_str(list[i]->status),
            json_object_new_int64(list[i]->size),
            cli_json_str(list[i]->volume_id),
            cli_json_str(
                volume_snapshot_meta(list[i], "instance_snapshot_id")),
        };

        output_add_row(out, row);
    }
    volume_snapshot_list_free(list, n);
    return cli_print(cli, out);
}

static int
volume_snapshot_show(struct cli *cli, int argc, char **argv)
{
    struct volume_snapshot *vs;
    int r = cli_positional(cli, argc, argv, 1, "VOLUME-SNAPSHOT");

    if (r >= 0) {
        return r;
    }
    vs = cli_find_volume_snapshot(cli, argv[optind]);
    if (vs == NULL) {
        return 1;
    }
    r = cli_print(cli, volume_snapshot_output(vs));
    volume_snapshot_free(vs);
    return r;
}

static int
volume_snapshot_delete(struct cli *cli, int argc, char **argv)
{
    struct error *err = NULL;
    struct volume_snapshot *vs;
    int r = cli_positional(cli, argc, argv, 1, "VOLUME-SNAPSHOT");

    if (r >= 0) {
        return r;
    }
    vs = cli_find_volume_snapshot(cli, argv[optind]);
    if (vs == NULL) {
        return 1;
    }
    r = volumes_snapshot_delete(cli->store, vs, &err);
    volume_snapshot_free(vs);
    return r < 0 ? cli_fail(cli, err) : 0;
}

/* "server add volume SERVER VOLUME" and "server remove volume ...". */
static int
server_volume(struct cli *cli, int argc, char **argv, bool add)
{
    struct error *err = NULL;
    struct instance *inst;
    struct volume *v;
    int r = cli_positional(cli, argc, argv, 2, "SERVER VOLUME");

    if (r >= 0) {
        return r;
    }
    inst = cli_find_server(cli, argv[optind]);
    if (inst == NULL) {
        return 1;
    }
    v = cli_find_volume(cli, argv[optind + 1]);
    if (v == NULL) {
        instance_free(inst);
        return 1;
    }
    r = add ? volumes_attach(cli->store, inst, v, &err)
            : volumes_detach(cli->store, inst, v, &err);
    instance_free(inst);
    volume_free(v);
    return r < 0 ? cli_fail(cli, err) : 0;
}

static int
server_add_volume(struct cli *cli, int argc, char **argv)
{
    return server_volume(cli, argc, argv, true);
}

static int
server_remove_volume(struct cli *cli, int argc, char **argv)
{
    return server_volume(cli, argc, argv, false);
}

const struct cli_command cli_volume_commands[] = {
    {"volume create", volume_create,
     "NAME --size SIZE | --snapshot VOLSNAP | --image IMAGE",
     "create a volume"},
    {"volume list", volume_list, "", "list volumes"},
    {"volume show", volume_show, "VOLUME", "show a volume"},
    {"volume delete", volume_delete, "VOLUME",
     "delete a detached volume without snapshots"},
    {"volume snapshot list", volume_snapshot_list, "",
     "list volume snapshots"},
    {"volume snapshot show", volume_snapshot_show, "VOLUME-SNAPSHOT",
     "show a volume snapshot"},
    {"volume snapshot delete", volume_snapshot_delete, "VOLUME-SNAPSHOT",
     "delete an unused volume snapshot"},
    {"server add volume", server_add_volume, "SERVER VOLUME",
     "attach a volume (hot-plugged if the server runs)"},
    {"server remove volume", server_remove_volume, "SERVER VOLUME",
     "detach a volume"},
    {NULL, NULL, NULL, NULL},
};
