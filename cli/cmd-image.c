/* vmsnap command line: "image ..." commands (the Glance verbs of the
 * openstack client).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cli.h"
#include "images.h"
#include "package.h"
#include "progress-bar.h"
#include "snapshot.h"
#include "runner.h"
#include "task.h"
#include "views.h"
#include "xalloc.h"

/* The columns of an image's show form (cli_image_form). */
static const char *const image_fields[] = {
    "checksum",  "container_format", "created_at", "disk_format",
    "fail_reason", "file",           "id",         "min_disk",
    "min_ram",   "name",             "os_hash_algo", "os_hash_value",
    "owner",     "properties",       "protected",  "size",
    "status",    "tags",             "updated_at", "virtual_size",
    "visibility", NULL,
};

static const char *const image_list_columns[] = {
    "ID", "Name", "Status", NULL,
};
static const char *const image_list_long_columns[] = {
    "ID",   "Name",     "Status",     "Disk Format", "Container Format",
    "Size", "Checksum", "Visibility", "Properties",  NULL,
};

/* Show IMG (consumed) as the openstack client shows an image, with its
 * local data file.
 */
static int
image_print(struct cli *cli, struct image *img)
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

/* Run task T (consumed) here, with a progress bar, and show the image it
 * made.
 */
static int
image_run_task(struct cli *cli, struct task *t)
{
    struct progress_bar *bar = progress_bar_new(cli_progress_enabled(cli));
    struct error *err = NULL;
    struct task *done = NULL;
    struct image *img = NULL;
    int r;

    r = runner_run(cli->svc, t->id, 0, progress_bar_reporter(bar), &err);
    progress_bar_free(bar);
    if (r < 0) {
        task_free(t);
        return cli_fail(cli, err);
    }
    if (task_find(cli->svc, cli_who(cli), t->id, &done, &err) < 0 ||
        done->image_id == NULL ||
        images_find(cli->svc, cli_who(cli), done->image_id, &img, &err) < 0) {
        task_free(done);
        task_free(t);
        return cli_fail(cli, err);
    }
    task_free(done);
    task_free(t);
    return image_print(cli, img);
}

static const struct cli_opt image_create_opts[] = {
    {"file", CLI_STR, "FILE", "the image's data", 0, 0},
    {"disk-format", CLI_STR, "FMT", "qcow2, raw, aki or ari", 0, 0},
    {"container-format", CLI_STR, "FMT", "bare (default), ovf, ova, ...", 0,
     0},
    {"property", CLI_MULTI, "K=V", "set a property", 0, 0},
    {"min-ram", CLI_INT, "MB", "memory it needs to boot", 0, 1 << 30},
    {"min-disk", CLI_INT, "GB", "disk it needs to boot", 0, 1 << 30},
    {"public", CLI_FLAG, NULL, "visible to every project", 0, 0},
    {"private", CLI_FLAG, NULL, "visible to its project only", 0, 0},
    {NULL, 0, NULL, NULL, 0, 0},
};

static int
image_create(struct cli *cli, const struct cli_args *a)
{
    struct images_new spec = {0};
    const char *pargs[CLI_MAX_MULTI];
    struct prop props[CLI_MAX_MULTI];
    char *keep[CLI_MAX_MULTI];
    struct progress_bar *bar;
    struct image *img = NULL;
    struct error *err = NULL;
    int np, i, r;

    spec.name = a->pos[0];
    spec.file = cli_str(cli, a, "file");
    spec.disk_format = cli_str(cli, a, "disk-format");
    spec.container_format = cli_str(cli, a, "container-format");
    spec.min_ram = cli_num(cli, a, "min-ram", 0);
    spec.min_disk = cli_num(cli, a, "min-disk", 0);
    spec.visibility = cli_flag(cli, a, "public")    ? "public"
                      : cli_flag(cli, a, "private") ? "private"
                                                    : NULL;
    if (spec.file == NULL || spec.disk_format == NULL) {
        return cli_usage(cli, "--file and --disk-format are required");
    }
    np = cli_multi(cli, a, "property", pargs);
    if (cli_parse_properties(pargs, np, props, keep, &err) < 0) {
        return cli_fail(cli, err);
    }
    spec.props = props;
    spec.nprops = np;
    r = 1;
    if (cli_svc(cli)) {
        bar = progress_bar_new(cli_progress_enabled(cli));
        r = images_create(cli->svc, cli_who(cli), &spec,
                          progress_bar_reporter(bar), &img, &err);
        progress_bar_free(bar);
        r = r < 0 ? cli_fail(cli, err) : image_print(cli, img);
    }
    for (i = 0; i < np; i++) {
        free(keep[i]);
    }
    return r;
}

static void
image_row(json_object *v, json_object **row)
{
    row[0] = cli_take(v, "id");
    row[1] = cli_take(v, "name");
    row[2] = cli_take(v, "status");
    row[3] = cli_take(v, "disk_format");
    row[4] = cli_take(v, "container_format");
    row[5] = cli_take(v, "size");
    row[6] = cli_take(v, "checksum");
    row[7] = cli_take(v, "visibility");
    row[8] = cli_image_properties(v);
}

static const struct cli_opt image_list_opts[] = {
    {"name", CLI_STR, "NAME", "only images of this name", 0, 0},
    {"status", CLI_STR, "STATUS", "only images in this status", 0, 0},
    {"property", CLI_MULTI, "K=V", "only images with this property", 0, 0},
    {"long", CLI_FLAG, NULL, "more columns", 0, 0},
    {NULL, 0, NULL, NULL, 0, 0},
};

static int
image_list(struct cli *cli, const struct cli_args *a)
{
    struct image_filter f = {.exclude_deleted = true};
    struct catalog_match m[CLI_MAX_MULTI];
    const char *pargs[CLI_MAX_MULTI];
    struct prop props[CLI_MAX_MULTI];
    char *keep[CLI_MAX_MULTI];
    CLEANUP_FREE json_object **views = NULL;
    struct image **list = NULL;
    struct error *err = NULL;
    bool longf = cli_flag(cli, a, "long");
    size_t n = 0, i;
    int np, r;

    f.name = cli_str(cli, a, "name");
    f.status = cli_str(cli, a, "status");
    np = cli_multi(cli, a, "property", pargs);
    if (cli_parse_properties(pargs, np, props, keep, &err) < 0) {
        return cli_fail(cli, err);
    }
    for (i = 0; i < (size_t)np; i++) {
        m[i].key = props[i].key;
        m[i].value = props[i].value;
    }
    f.props = m;
    f.nprops = np;
    r = 1;
    if (cli_svc(cli) &&
        images_list(cli->svc, cli_who(cli), &f, &list, &n, &err) == 0) {
        views = xcalloc(n, sizeof(*views));
        for (i = 0; i < n; i++) {
            views[i] = view_image(list[i], NULL);
        }
        r = cli_list(cli, longf ? image_list_long_columns : image_list_columns,
                     views, n, image_row);
    } else if (err) {
        r = cli_fail(cli, err);
    }
    image_list_free(list, n);
    for (i = 0; i < (size_t)np; i++) {
        free(keep[i]);
    }
    return r;
}

static int
image_show(struct cli *cli, const struct cli_args *a)
{
    struct image *img = NULL;
    struct error *err = NULL;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    if (images_find(cli->svc, cli_who(cli), a->pos[0], &img, &err) < 0) {
        return cli_fail(cli, err);
    }
    return image_print(cli, img);
}

static int
image_delete(struct cli *cli, const struct cli_args *a)
{
    struct error *err = NULL;
    int i, r = 0;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    for (i = 0; i < a->npos; i++) {
        if (snapshot_delete_image(cli->svc, cli_who(cli), a->pos[i], &err) <
            0) {
            r = cli_fail(cli, err);
            err = NULL;
        }
    }
    return r;
}

static const struct cli_opt image_set_opts[] = {
    {"name", CLI_STR, "NAME", "rename the image", 0, 0},
    {"property", CLI_MULTI, "K=V", "set a property", 0, 0},
    {"min-ram", CLI_INT, "MB", "memory it needs to boot", 0, 1 << 30},
    {"min-disk", CLI_INT, "GB", "disk it needs to boot", 0, 1 << 30},
    {"public", CLI_FLAG, NULL, "visible to every project", 0, 0},
    {"private", CLI_FLAG, NULL, "visible to its project only", 0, 0},
    {"shared", CLI_FLAG, NULL, "visible to projects it is shared with",
     0, 0},
    {"community", CLI_FLAG, NULL, "visible to every project, unlisted", 0,
     0},
    {NULL, 0, NULL, NULL, 0, 0},
};

static int
image_set(struct cli *cli, const struct cli_args *a)
{
    static const char *const vis[] = {"public", "private", "shared",
                                      "community", NULL};
    struct images_change ch = {.min_ram = -1, .min_disk = -1};
    const char *pargs[CLI_MAX_MULTI];
    struct prop props[CLI_MAX_MULTI];
    char *keep[CLI_MAX_MULTI];
    struct error *err = NULL;
    int np, i, r;

    ch.name = cli_str(cli, a, "name");
    ch.min_ram = cli_num(cli, a, "min-ram", -1);
    ch.min_disk = cli_num(cli, a, "min-disk", -1);
    for (i = 0; vis[i]; i++) {
        if (cli_flag(cli, a, vis[i])) {
            ch.visibility = vis[i];
        }
    }
    np = cli_multi(cli, a, "property", pargs);
    if (cli_parse_properties(pargs, np, props, keep, &err) < 0) {
        return cli_fail(cli, err);
    }
    ch.set = props;
    ch.nset = np;
    r = 1;
    if (cli_svc(cli)) {
        r = images_change(cli->svc, cli_who(cli), a->pos[0], &ch, NULL,
                          &err) < 0
                ? cli_fail(cli, err)
                : 0;
    }
    for (i = 0; i < np; i++) {
        free(keep[i]);
    }
    return r;
}

static const struct cli_opt image_unset_opts[] = {
    {"property", CLI_MULTI, "KEY", "remove this property", 0, 0},
    {NULL, 0, NULL, NULL, 0, 0},
};

static int
image_unset(struct cli *cli, const struct cli_args *a)
{
    struct images_change ch = {.min_ram = -1, .min_disk = -1};
    const char *keys[CLI_MAX_MULTI];
    struct error *err = NULL;

    ch.nunset = cli_multi(cli, a, "property", keys);
    ch.unset = keys;
    if (ch.nunset == 0) {
        return cli_usage(cli, "nothing to unset: give --property KEY");
    }
    if (cli_svc(cli) == NULL) {
        return 1;
    }
    if (images_change(cli->svc, cli_who(cli), a->pos[0], &ch, NULL, &err) <
        0) {
        return cli_fail(cli, err);
    }
    return 0;
}

static const struct cli_opt image_save_opts[] = {
    {"file", CLI_STR, "FILE", "where to write the data (required)", 0, 0},
    {NULL, 0, NULL, NULL, 0, 0},
};

static int
image_save(struct cli *cli, const struct cli_args *a)
{
    const char *file = cli_str(cli, a, "file");
    struct progress_bar *bar;
    struct error *err = NULL;
    int r;

    if (file == NULL) {
        return cli_usage(cli, "--file is required");
    }
    if (cli_svc(cli) == NULL) {
        return 1;
    }
    bar = progress_bar_new(cli_progress_enabled(cli));
    r = images_save(cli->svc, cli_who(cli), a->pos[0], file,
                    progress_bar_reporter(bar), &err);
    progress_bar_free(bar);
    return r < 0 ? cli_fail(cli, err) : 0;
}

static const struct cli_opt image_export_opts[] = {
    {"file", CLI_STR, "FILE.ova", "the package to write (required)", 0, 0},
    {"format", CLI_STR, "ova", "the package's format: ova", 0, 0},
    {"container-format", CLI_STR, "ova", "the same, Glance's name", 0, 0},
    {"disk-format", CLI_STR, "FMT", "disks as vmdk (default) or qcow2", 0,
     0},
    {NULL, 0, NULL, NULL, 0, 0},
};

static int
image_export(struct cli *cli, const struct cli_args *a)
{
    const char *file = cli_str(cli, a, "file");
    const char *container = cli_str(cli, a, "format");
    const char *disk_format = cli_str(cli, a, "disk-format");
    struct progress_bar *bar;
    struct error *err = NULL;
    struct task *t = NULL;
    int r;

    if (container == NULL) {
        container = cli_str(cli, a, "container-format");
    }
    if (file == NULL) {
        return cli_usage(cli, "--file is required");
    }
    if (container && strcmp(container, "ova") != 0) {
        return cli_usage(cli, "container format '%s' is not supported (ova)",
                         container);
    }
    if (disk_format && strcmp(disk_format, "vmdk") != 0 &&
        strcmp(disk_format, "qcow2") != 0) {
        return cli_usage(cli, "disk format '%s' is not supported (vmdk, "
                              "qcow2)",
                         disk_format);
    }
    if (cli_svc(cli) == NULL) {
        return 1;
    }
    if (package_export_request(cli->svc, cli_who(cli), a->pos[0], file,
                               disk_format ? disk_format : "vmdk", &t,
                               &err) < 0) {
        return cli_fail(cli, err);
    }
    bar = progress_bar_new(cli_progress_enabled(cli));
    r = runner_run(cli->svc, t->id, 0, progress_bar_reporter(bar), &err);
    progress_bar_free(bar);
    task_free(t);
    return r < 0 ? cli_fail(cli, err) : 0;
}

static const struct cli_opt image_import_opts[] = {
    {"name", CLI_STR, "NAME", "name of the new image", 0, 0},
    {NULL, 0, NULL, NULL, 0, 0},
};

static int
image_import(struct cli *cli, const struct cli_args *a)
{
    struct error *err = NULL;
    struct task *t = NULL;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    if (package_import_request(cli->svc, cli_who(cli), a->pos[0],
                               cli_str(cli, a, "name"), &t, &err) < 0) {
        return cli_fail(cli, err);
    }
    return image_run_task(cli, t);
}

const struct cli_command cli_image_commands[] = {
    {"image create", image_create, "NAME", 1, 1, image_create_opts,
     image_fields, "create an image from a file",
     "Copies the file into the image store, checks what was copied "
     "(format,\nself-containment, consistency) and hashes it.",
     false},
    {"image list", image_list, "", 0, 0, image_list_opts,
     image_list_long_columns, "list images, newest first", NULL, false},
    {"image show", image_show, "IMAGE", 1, 1, NULL, image_fields,
     "show an image", NULL, false},
    {"image set", image_set, "IMAGE", 1, 1, image_set_opts, NULL,
     "change an image's name, properties or visibility", NULL, false},
    {"image unset", image_unset, "IMAGE", 1, 1, image_unset_opts, NULL,
     "remove image properties", NULL, false},
    {"image save", image_save, "IMAGE", 1, 1, image_save_opts, NULL,
     "copy an image's data out", NULL, false},
    {"image delete", image_delete, "IMAGE...", 1, -1, NULL, NULL,
     "delete unused images (and the volume snapshots of their set)", NULL,
     false},
    {"image export", image_export, "IMAGE", 1, 1, image_export_opts, NULL,
     "write an image and its set as one OVA package",
     "Writes one OVA: the descriptor, the manifest, the root disk, the "
     "volume\nsnapshots of an instance-level snapshot, its kernel and "
     "ramdisk.",
     false},
    {"image import", image_import, "FILE.ova", 1, 1, image_import_opts,
     image_fields, "register an OVA package as new images",
     "Registers the package's kernel, ramdisk, volume snapshots and root "
     "disk\nas new images and volume snapshots; all or nothing.",
     false},
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, false},
};
