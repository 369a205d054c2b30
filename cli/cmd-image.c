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
#include "reap.h"
#include "snapshot.h"
#include "util.h"

static json_object *
json_size(int64_t v)
{
    return v >= 0 ? json_object_new_int64(v) : NULL;
}

const char *const cli_image_fields[] = {
    "checksum",      "container_format", "created_at", "disk_format",
    "fail_reason",   "file",             "id",         "min_disk",
    "min_ram",       "name",             "os_hash_algo", "os_hash_value",
    "properties",    "size",             "status",     "updated_at",
    "virtual_size",  NULL,
};

struct output *
cli_image_output(const struct image *img)
{
    struct output *out = output_new_show();

    if (out == NULL) {
        return NULL;
    }
    /* Sorted by field name, as the openstack client shows them. */
    output_add_field(out, "checksum", cli_json_str(img->checksum));
    output_add_field(out, "container_format",
                     cli_json_str(img->container_format));
    output_add_field(out, "created_at", cli_json_str(img->created_at));
    output_add_field(out, "disk_format", cli_json_str(img->disk_format));
    if (img->fail_reason) {
        output_add_field(out, "fail_reason",
                         json_object_new_string(img->fail_reason));
    }
    output_add_field(out, "file", cli_json_str(img->file));
    output_add_field(out, "id", json_object_new_string(img->id));
    output_add_field(out, "min_disk", json_object_new_int64(img->min_disk));
    output_add_field(out, "min_ram", json_object_new_int64(img->min_ram));
    output_add_field(out, "name", cli_json_str(img->name));
    output_add_field(out, "os_hash_algo", cli_json_str(img->os_hash_algo));
    output_add_field(out, "os_hash_value",
                     cli_json_str(img->os_hash_value));
    output_add_field(out, "properties",
                     cli_json_props(img->props, img->nprops));
    output_add_field(out, "size", json_size(img->size));
    output_add_field(out, "status", cli_json_str(img->status));
    output_add_field(out, "updated_at", cli_json_str(img->updated_at));
    output_add_field(out, "virtual_size", json_size(img->virtual_size));
    return out;
}

/* Find IMAGE by name or ID; print the error and return NULL if none. */
static struct image *
cli_find_image(struct cli *cli, const char *ref)
{
    struct error *err = NULL;
    struct image *img = NULL;

    if (cli_store(cli) == NULL) {
        return NULL;
    }
    reap_stale(cli->store);
    if (catalog_image_find(store_catalog(cli->store), ref, &img, &err) < 0) {
        cli_fail(cli, err);
        return NULL;
    }
    return img;
}

/* Add the "--property k=v" ARG to PROPS; return -1 after a message. */
static int
cli_add_property(struct cli *cli, struct prop **props, size_t *n,
                 const char *arg)
{
    struct error *err = NULL;
    CLEANUP_FREE char *key = NULL;
    CLEANUP_FREE char *value = NULL;

    if (cli_parse_property(arg, &key, &value, &err) < 0 ||
        catalog_prop_set(props, n, key, value, &err) < 0) {
        cli_fail(cli, err);
        return -1;
    }
    return 0;
}

static int
cli_parse_mib(struct cli *cli, const char *what, const char *arg,
              int64_t *out)
{
    struct error *err = NULL;

    if (util_parse_int64(arg, out, &err) < 0 || *out < 0) {
        error_free(err);
        cli_usage(cli, "%s must be a number >= 0, not '%s'", what, arg);
        return -1;
    }
    return 0;
}

static int
image_create(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'F'},
        {"disk-format", required_argument, NULL, 'd'},
        {"container-format", required_argument, NULL, 'C'},
        {"property", required_argument, NULL, 'p'},
        {"min-ram", required_argument, NULL, 'r'},
        {"min-disk", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct images_new spec = {0};
    struct prop *props = NULL;
    size_t nprops = 0;
    struct image *img = NULL;
    struct error *err = NULL;
    struct progress_bar *bar = NULL;
    int c, r = 1;

    for (c = cli_getopt(argc, argv, "", opts, true); c != -1;
         c = cli_getopt(argc, argv, "", opts, false)) {
        switch (c) {
        case 'F':
            spec.file = optarg;
            break;
        case 'd':
            spec.disk_format = optarg;
            break;
        case 'C':
            spec.container_format = optarg;
            break;
        case 'p':
            if (cli_add_property(cli, &props, &nprops, optarg) < 0) {
                goto out;
            }
            break;
        case 'r':
            if (cli_parse_mib(cli, "--min-ram", optarg, &spec.min_ram) < 0) {
                r = 2;
                goto out;
            }
            break;
        case 'D':
            if (cli_parse_mib(cli, "--min-disk", optarg, &spec.min_disk) <
                0) {
                r = 2;
                goto out;
            }
            break;
        case 'h':
            printf("usage: vmsnap image create NAME --file FILE "
                   "--disk-format qcow2|raw\n"
                   "       [--container-format bare] [--property K=V]... "
                   "[--min-ram MB] [--min-disk GB]\n");
            r = 0;
            goto out;
        default:
            r = 2;
            goto out;
        }
    }
    if (optind + 1 != argc) {
        r = cli_usage(cli, "expected one image NAME");
        goto out;
    }
    spec.name = argv[optind];
    if (spec.file == NULL || spec.disk_format == NULL) {
        r = cli_usage(cli, "--file and --disk-format are required");
        goto out;
    }
    spec.props = props;
    spec.nprops = nprops;
    if ((r = cli_check_columns(cli, cli_image_fields)) >= 0) {
        goto out;
    }
    r = 1;
    if (cli_store(cli) == NULL) {
        goto out;
    }
    bar = progress_bar_new(cli_progress_enabled(cli));
    if (images_create(cli->store, &spec, progress_bar_reporter(bar), &img,
                      &err) < 0) {
        progress_bar_free(bar);
        r = cli_fail(cli, err);
        goto out;
    }
    progress_bar_free(bar);
    r = cli_print(cli, cli_image_output(img));
out:
    catalog_props_free(props, nprops);
    image_free(img);
    return r;
}

static int
image_list(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},
        {"status", required_argument, NULL, 's'},
        {"property", required_argument, NULL, 'p'},
        {"long", no_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    static const char *const cols[] = {"ID", "Name", "Status", NULL};
    static const char *const long_cols[] = {
        "ID",   "Name",     "Status",     "Disk Format", "Container Format",
        "Size", "Checksum", "Properties", NULL};
    struct catalog_match matches[CATALOG_PROPS_MAX];
    struct image_filter filter = {.exclude_deleted = true, .props = matches};
    char *owned[CATALOG_PROPS_MAX * 2];
    size_t nowned = 0, i, n = 0;
    struct image **list = NULL;
    struct error *err = NULL;
    struct output *out;
    bool longfmt = false;
    int c, r = 1;

    for (c = cli_getopt(argc, argv, "", opts, true); c != -1;
         c = cli_getopt(argc, argv, "", opts, false)) {
        switch (c) {
        case 'n':
            filter.name = optarg;
            break;
        case 's':
            filter.status = optarg;
            break;
        case 'p': {
            char *k, *v;

            if (filter.nprops >= CATALOG_PROPS_MAX) {
                r = cli_usage(cli, "too many --property filters");
                goto out;
            }
            if (cli_parse_property(optarg, &k, &v, &err) < 0) {
                r = cli_fail(cli, err);
                goto out;
            }
            owned[nowned++] = k;
            owned[nowned++] = v;
            matches[filter.nprops].key = k;
            matches[filter.nprops].value = v;
            filter.nprops++;
            break;
        }
        case 'l':
            longfmt = true;
            break;
        case 'h':
            printf("usage: vmsnap image list [--name N] [--status S] "
                   "[--property K=V]... [--long]\n");
            r = 0;
            goto out;
        default:
            r = 2;
            goto out;
        }
    }
    if (optind != argc) {
        r = cli_usage(cli, "unexpected argument '%s'", argv[optind]);
        goto out;
    }
    if (cli_store(cli) == NULL) {
        goto out;
    }
    reap_stale(cli->store);
    if (catalog_image_list(store_catalog(cli->store), &filter, &list, &n,
                           &err) < 0) {
        r = cli_fail(cli, err);
        goto out;
    }
    out = output_new_list(longfmt ? long_cols : cols);
    for (i = 0; out && i < n; i++) {
        const struct image *img = list[i];
        json_object *row[8] = {
            json_object_new_string(img->id),
            cli_json_str(img->name),
            cli_json_str(img->status),
            cli_json_str(img->disk_format),
            cli_json_str(img->container_format),
            json_size(img->size),
            cli_json_str(img->checksum),
            cli_json_props(img->props, img->nprops),
        };
        size_t j;

        if (!longfmt) {
            for (j = 3; j < 8; j++) {
                json_object_put(row[j]);
                row[j] = NULL;
            }
        }
        output_add_row(out, row);
    }
    r = cli_print(cli, out);
out:
    image_list_free(list, n);
    for (i = 0; i < nowned; i++) {
        free(owned[i]);
    }
    return r;
}

/* Commands that take exactly one IMAGE argument and no options: -1 with
 * *IMG found to go on, else the exit status.
 */
static int
cli_one_image_arg(struct cli *cli, int argc, char **argv, struct image **img)
{
    int r = cli_positional(cli, argc, argv, 1, "IMAGE");

    if (r >= 0) {
        return r;
    }
    *img = cli_find_image(cli, argv[optind]);
    return *img ? -1 : 1;
}

static int
image_show(struct cli *cli, int argc, char **argv)
{
    struct image *img = NULL;
    int r = cli_one_image_arg(cli, argc, argv, &img);

    if (r >= 0) {
        return r;
    }
    r = cli_print(cli, cli_image_output(img));
    image_free(img);
    return r;
}

static int
image_delete(struct cli *cli, int argc, char **argv)
{
    struct image *img = NULL;
    struct error *err = NULL;
    int r = cli_one_image_arg(cli, argc, argv, &img);

    if (r >= 0) {
        return r;
    }
    r = 0;
    if (snapshot_delete_image(cli->store, img, &err) < 0) {
        r = cli_fail(cli, err);
    }
    image_free(img);
    return r;
}

static int
image_set_or_unset(struct cli *cli, int argc, char **argv, bool set)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},
        {"property", required_argument, NULL, 'p'},
        {"min-ram", required_argument, NULL, 'r'},
        {"min-disk", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct prop *props = NULL;
    size_t nprops = 0, i;
    const char *unset[CATALOG_PROPS_MAX];
    size_t nunset = 0;
    const char *name = NULL;
    int64_t min_ram = -1, min_disk = -1;
    struct image *img = NULL;
    struct error *err = NULL;
    struct catalog *cat;
    int c, r = 1;

    for (c = cli_getopt(argc, argv, "", opts, true); c != -1;
         c = cli_getopt(argc, argv, "", opts, false)) {
        switch (c) {
        case 'n':
            if (!set) {
                r = cli_usage(cli, "--name is not an unset option");
                goto out;
            }
            name = optarg;
            break;
        case 'p':
            if (!set) {
                if (nunset >= CATALOG_PROPS_MAX) {
                    r = cli_usage(cli, "too many --property options");
                    goto out;
                }
                unset[nunset++] = optarg;
            } else if (cli_add_property(cli, &props, &nprops, optarg) < 0) {
                goto out;
            }
            break;
        case 'r':
        case 'D':
            if (!set) {
                r = cli_usage(cli, "only --property can be unset");
                goto out;
            }
            if (cli_parse_mib(cli, c == 'r' ? "--min-ram" : "--min-disk",
                              optarg, c == 'r' ? &min_ram : &min_disk) < 0) {
                r = 2;
                goto out;
            }
            break;
        case 'h':
            printf(set ? "usage: vmsnap image set [--name N] [--property "
                         "K=V]... [--min-ram MB] [--min-disk GB] IMAGE\n"
                       : "usage: vmsnap image unset --property K... IMAGE\n");
            r = 0;
            goto out;
        default:
            r = 2;
            goto out;
        }
    }
    if (optind + 1 != argc) {
        r = cli_usage(cli, "expected one IMAGE");
        goto out;
    }
    if (!set && nunset == 0) {
        r = cli_usage(cli, "nothing to unset: give --property KEY");
        goto out;
    }
    img = cli_find_image(cli, argv[optind]);
    if (img == NULL) {
        goto out;
    }
    /* Read, change and write back in one transaction, so two concurrent
     * "image set" calls never lose each other's changes.
     */
    cat = store_catalog(cli->store);
    if (catalog_begin(cat, &err) < 0) {
        r = cli_fail(cli, err);
        goto out;
    }
    for (i = 0; i < nprops; i++) {
        if (catalog_image_set_property(cat, img->id, props[i].key,
                                       props[i].value, &err) < 0) {
            goto fail;
        }
    }
    for (i = 0; i < nunset; i++) {
        if (catalog_image_unset_property(cat, img->id, unset[i], &err) < 0) {
            goto fail;
        }
    }
    if (name || min_ram >= 0 || min_disk >= 0) {
        struct image *cur = NULL;

        if (catalog_image_get(cat, img->id, &cur, &err) < 0) {
            goto fail;
        }
        if (name) {
            free(cur->name);
            cur->name = strdup(name);
        }
        if (min_ram >= 0) {
            cur->min_ram = min_ram;
        }
        if (min_disk >= 0) {
            cur->min_disk = min_disk;
        }
        if (cur->name == NULL ||
            catalog_image_update(cat, cur, &err) < 0) {
            if (err == NULL) {
                error_setg(&err, ERR_IO, "out of memory");
            }
            image_free(cur);
            goto fail;
        }
        image_free(cur);
    }
    if (catalog_commit(cat, &err) < 0) {
        goto fail;
    }
    r = 0;
    goto out;
fail:
    catalog_rollback(cat);
    r = cli_fail(cli, err);
out:
    catalog_props_free(props, nprops);
    image_free(img);
    return r;
}

static int
image_set(struct cli *cli, int argc, char **argv)
{
    return image_set_or_unset(cli, argc, argv, true);
}

static int
image_unset(struct cli *cli, int argc, char **argv)
{
    return image_set_or_unset(cli, argc, argv, false);
}

static int
image_save(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *file = NULL;
    struct image *img = NULL;
    struct error *err = NULL;
    struct progress_bar *bar;
    int c, r;

    for (c = cli_getopt(argc, argv, "", opts, true); c != -1;
         c = cli_getopt(argc, argv, "", opts, false)) {
        if (c == 'F') {
            file = optarg;
        } else if (c == 'h') {
            printf("usage: vmsnap image save --file FILE IMAGE\n");
            return 0;
        } else {
            return 2;
        }
    }
    if (optind + 1 != argc || file == NULL) {
        return cli_usage(cli, "expected --file FILE and one IMAGE");
    }
    img = cli_find_image(cli, argv[optind]);
    if (img == NULL) {
        return 1;
    }
    bar = progress_bar_new(cli_progress_enabled(cli));
    r = images_save(img, file, progress_bar_reporter(bar), &err);
    progress_bar_free(bar);
    image_free(img);
    return r < 0 ? cli_fail(cli, err) : 0;
}

/* "image export IMAGE --format ova --file F.ova [--disk-format
 * vmdk|qcow2]".  --format ova is handed through by main, which otherwise
 * takes -f/--format as the output format; --container-format ova (Glance's
 * name) means the same.
 */
static int
image_export(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'F'},
        {"container-format", required_argument, NULL, 'C'},
        {"format", required_argument, NULL, 'C'},
        {"disk-format", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *file = NULL, *container = "ova", *disk_format = "vmdk";
    struct image *img = NULL;
    struct error *err = NULL;
    struct progress_bar *bar;
    int c, r;

    for (c = cli_getopt(argc, argv, "", opts, true); c != -1;
         c = cli_getopt(argc, argv, "", opts, false)) {
        switch (c) {
        case 'F':
            file = optarg;
            break;
        case 'C':
            container = optarg;
            break;
        case 'd':
            disk_format = optarg;
            break;
        case 'h':
            printf("usage: vmsnap image export IMAGE [--format ova] "
                   "--file FILE.ova\n"
                   "       [--disk-format vmdk|qcow2]\n"
                   "Writes one OVA: the descriptor, the manifest, the root "
                   "disk, the volume\n"
                   "snapshots of an instance-level snapshot, its kernel and "
                   "ramdisk.\n");
            return 0;
        default:
            return 2;
        }
    }
    if (optind + 1 != argc || file == NULL) {
        return cli_usage(cli, "expected --file FILE and one IMAGE");
    }
    if (strcmp(container, "ova") != 0) {
        return cli_usage(cli, "container format '%s' is not supported (ova)",
                         container);
    }
    if (strcmp(disk_format, "vmdk") != 0 && strcmp(disk_format, "qcow2") != 0) {
        return cli_usage(cli, "disk format '%s' is not supported (vmdk, qcow2)",
                         disk_format);
    }
    img = cli_find_image(cli, argv[optind]);
    if (img == NULL) {
        return 1;
    }
    bar = progress_bar_new(cli_progress_enabled(cli));
    r = package_export(cli->store, img, file, disk_format,
                       progress_bar_reporter(bar), &err);
    progress_bar_free(bar);
    image_free(img);
    return r < 0 ? cli_fail(cli, err) : 0;
}

/* "image import FILE.ova [--name NAME]": prints the new image. */
static int
image_import(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *name = NULL;
    struct image *img = NULL;
    struct error *err = NULL;
    struct progress_bar *bar;
    int c, r;

    for (c = cli_getopt(argc, argv, "", opts, true); c != -1;
         c = cli_getopt(argc, argv, "", opts, false)) {
        if (c == 'n') {
            name = optarg;
        } else if (c == 'h') {
            printf("usage: vmsnap image import FILE.ova [--name NAME]\n"
                   "Registers the package's kernel, ramdisk, volume "
                   "snapshots and root disk\n"
                   "as new images and volume snapshots; all or nothing.\n");
            return 0;
        } else {
            return 2;
        }
    }
    if (optind + 1 != argc) {
        return cli_usage(cli, "expected one package FILE");
    }
    if ((r = cli_check_columns(cli, cli_image_fields)) >= 0) {
        return r;
    }
    if (cli_store(cli) == NULL) {
        return 1;
    }
    bar = progress_bar_new(cli_progress_enabled(cli));
    r = package_import(cli->store, argv[optind], name,
                       progress_bar_reporter(bar), &img, &err);
    progress_bar_free(bar);
    if (r < 0) {
        return cli_fail(cli, err);
    }
    r = cli_print(cli, cli_image_output(img));
    image_free(img);
    return r;
}

const struct cli_command cli_image_commands[] = {
    {"image create", image_create, "NAME --file F --disk-format FMT",
     "create an image from a file"},
    {"image list", image_list, "[--name N] [--status S] [--property K=V]",
     "list images, newest first"},
    {"image show", image_show, "IMAGE", "show an image"},
    {"image set", image_set, "[--name N] [--property K=V] IMAGE",
     "change an image's name or properties"},
    {"image unset", image_unset, "--property K IMAGE",
     "remove an image property"},
    {"image save", image_save, "--file F IMAGE", "copy an image's data out"},
    {"image delete", image_delete, "IMAGE", "delete an unused image"},
    {"image export", image_export, "IMAGE --file F.ova [--disk-format FMT]",
     "write an image and its set as one OVA package"},
    {"image import", image_import, "F.ova [--name N]",
     "register an OVA package as new images"},
    {NULL, NULL, NULL, NULL},
};
