/* vmsnap command line: "server ..." commands (the Nova verbs of the
 * openstack client).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "backup.h"
#include "compute.h"
#include "progress-bar.h"
#include "reap.h"
#include "snapshot.h"
#include "util.h"

struct instance *
cli_find_server(struct cli *cli, const char *ref)
{
    struct error *err = NULL;
    struct instance *inst = NULL;

    if (cli_store(cli) == NULL) {
        return NULL;
    }
    if (catalog_instance_find(store_catalog(cli->store), ref, &inst, &err) <
        0) {
        cli_fail(cli, err);
        return NULL;
    }
    return inst;
}

const char *const cli_server_fields[] = {
    "accel",      "agent", "cpus",        "created_at", "fault",
    "id",         "image", "memory_mb",   "name",       "pid",
    "power_state", "status", "task_state", "updated_at", NULL,
};

static struct output *
server_output(struct cli *cli, const struct instance *inst)
{
    struct output *out = output_new_show();
    struct compute_state st;
    struct error *err = NULL;
    const char *accel = instance_meta(inst, "accel");

    if (out == NULL) {
        return NULL;
    }
    if (compute_state(cli->store, inst, &st, &err) < 0) {
        cli_fail(cli, err);
        output_free(out);
        return NULL;
    }
    output_add_field(out, "accel", cli_json_str(accel));
    output_add_field(out, "agent",
                     json_object_new_string(compute_has_agent(inst) ? "yes"
                                                                    : "no"));
    output_add_field(out, "cpus", json_object_new_int(inst->cpus));
    output_add_field(out, "created_at", cli_json_str(inst->created_at));
    output_add_field(out, "fault", st.fault[0]
                                       ? json_object_new_string(st.fault)
                                       : NULL);
    output_add_field(out, "id", json_object_new_string(inst->id));
    output_add_field(out, "image", cli_json_str(inst->image_id));
    output_add_field(out, "memory_mb",
                     json_object_new_int64(inst->memory_mb));
    output_add_field(out, "name", cli_json_str(inst->name));
    output_add_field(out, "pid", st.pid ? json_object_new_int(st.pid) : NULL);
    output_add_field(out, "power_state", json_object_new_string(st.power));
    output_add_field(out, "status", json_object_new_string(st.status));
    output_add_field(out, "task_state", cli_json_str(inst->task_state));
    output_add_field(out, "updated_at", cli_json_str(inst->updated_at));
    return out;
}

static int
server_create(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"image", required_argument, NULL, 'i'},
        {"memory", required_argument, NULL, 'm'},
        {"cpus", required_argument, NULL, 'n'},
        {"accel", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct compute_new spec = {0};
    struct instance *inst = NULL;
    struct error *err = NULL;
    int64_t v;
    int c, r;

    for (c = cli_getopt(argc, argv, "", opts, true); c != -1;
         c = cli_getopt(argc, argv, "", opts, false)) {
        switch (c) {
        case 'i':
            spec.image = optarg;
            break;
        case 'm':
        case 'n':
            if (util_parse_int64(optarg, &v, NULL) < 0 || v <= 0 ||
                v > (c == 'm' ? 1 << 22 : 256)) {
                return cli_usage(cli, "bad %s value '%s'",
                                 c == 'm' ? "--memory" : "--cpus", optarg);
            }
            if (c == 'm') {
                spec.memory_mb = v;
            } else {
                spec.cpus = (int)v;
            }
            break;
        case 'a':
            spec.accel = optarg;
            break;
        case 'h':
            printf("usage: vmsnap server create NAME --image IMAGE "
                   "[--memory MB] [--cpus N] [--accel kvm|tcg|auto]\n");
            return 0;
        default:
            return 2;
        }
    }
    if (optind + 1 != argc || spec.image == NULL) {
        return cli_usage(cli, "expected --image IMAGE and one NAME");
    }
    spec.name = argv[optind];
    if ((r = cli_check_columns(cli, cli_server_fields)) >= 0) {
        return r;
    }
    if (cli_store(cli) == NULL) {
        return 1;
    }
    if (compute_create(cli->store, &spec, &inst, &err) < 0) {
        return cli_fail(cli, err);
    }
    r = cli_print(cli, server_output(cli, inst));
    instance_free(inst);
    return r;
}

static int
server_list(struct cli *cli, int argc, char **argv)
{
    static const char *const cols[] = {"ID", "Name", "Status", "Image", NULL};
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct instance **list = NULL;
    struct error *err = NULL;
    struct output *out;
    size_t n = 0, i;
    int c;

    for (c = cli_getopt(argc, argv, "", opts, true); c != -1;
         c = cli_getopt(argc, argv, "", opts, false)) {
        if (c == 'h') {
            printf("usage: vmsnap server list\n");
            return 0;
        }
        return 2;
    }
    if (optind != argc) {
        return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
    }
    if (cli_store(cli) == NULL) {
        return 1;
    }
    if (catalog_instance_list(store_catalog(cli->store), &list, &n, &err) <
        0) {
        return cli_fail(cli, err);
    }
    out = output_new_list(cols);
    for (i = 0; out && i < n; i++) {
        struct compute_state st;
        json_object *row[4];

        if (compute_state(cli->store, list[i], &st, &err) < 0) {
            instance_list_free(list, n);
            output_free(out);
            return cli_fail(cli, err);
        }
        row[0] = json_object_new_string(list[i]->id);
        row[1] = cli_json_str(list[i]->name);
        row[2] = json_object_new_string(st.status);
        row[3] = cli_json_str(list[i]->image_id);
        output_add_row(out, row);
    }
    instance_list_free(list, n);
    return cli_print(cli, out);
}

/* Parse "[--timeout S] SERVER" (TIMEOUT may be NULL: no such option). */
static struct instance *
server_arg(struct cli *cli, int argc, char **argv, int *timeout, int *rc)
{
    static const struct option opts[] = {
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int64_t v;
    int c;

    *rc = 2;
    for (c = cli_getopt(argc, argv, "", opts, true); c != -1;
         c = cli_getopt(argc, argv, "", opts, false)) {
        if (c == 't' && timeout) {
            if (util_parse_int64(optarg, &v, NULL) < 0 || v < 0 ||
                v > 3600) {
                cli_usage(cli, "bad --timeout '%s'", optarg);
                return NULL;
            }
            *timeout = (int)v;
        } else if (c == 'h') {
            printf("usage: vmsnap %s %sSERVER\n", cli->command,
                   timeout ? "[--timeout SECONDS] " : "");
            *rc = 0;
            return NULL;
        } else {
            if (c == 't') {
                cli_usage(cli, "no --timeout option here");
            }
            return NULL;
        }
    }
    if (optind + 1 != argc) {
        cli_usage(cli, "expected one SERVER");
        return NULL;
    }
    *rc = 1;
    return cli_find_server(cli, argv[optind]);
}

static int
server_show(struct cli *cli, int argc, char **argv)
{
    int rc;
    struct instance *inst = server_arg(cli, argc, argv, NULL, &rc);

    if (inst == NULL) {
        return rc;
    }
    rc = cli_print(cli, server_output(cli, inst));
    instance_free(inst);
    return rc;
}

/* The body of the simple life-cycle verbs. */
static int
server_lifecycle(struct cli *cli, int argc, char **argv, char verb)
{
    int rc, timeout = 60, r = -1;
    struct error *err = NULL;
    struct instance *inst =
        server_arg(cli, argc, argv, verb == 's' ? &timeout : NULL, &rc);

    if (inst == NULL) {
        return rc;
    }
    switch (verb) {
    case 's':
        r = compute_stop(cli->store, inst, timeout, &err);
        break;
    case 'S':
        r = compute_start(cli->store, inst, &err);
        break;
    case 'p':
    case 'u':
        r = compute_pause(cli->store, inst, verb == 'p', &err);
        break;
    case 'd':
        r = compute_delete(cli->store, inst, &err);
        break;
    }
    instance_free(inst);
    return r < 0 ? cli_fail(cli, err) : 0;
}

static int
server_stop(struct cli *cli, int argc, char **argv)
{
    return server_lifecycle(cli, argc, argv, 's');
}

static int
server_start(struct cli *cli, int argc, char **argv)
{
    return server_lifecycle(cli, argc, argv, 'S');
}

static int
server_pause(struct cli *cli, int argc, char **argv)
{
    return server_lifecycle(cli, argc, argv, 'p');
}

static int
server_unpause(struct cli *cli, int argc, char **argv)
{
    return server_lifecycle(cli, argc, argv, 'u');
}

static int
server_delete(struct cli *cli, int argc, char **argv)
{
    return server_lifecycle(cli, argc, argv, 'd');
}

static int
server_console(struct cli *cli, int argc, char **argv)
{
    int rc;
    struct instance *inst = server_arg(cli, argc, argv, NULL, &rc);
    CLEANUP_FREE char *path = NULL;
    CLEANUP_CLOSE int fd = -1;
    char buf[65536];
    ssize_t n;

    if (inst == NULL) {
        return rc;
    }
    path = store_instance_path(cli->store, inst->id, "console.log");
    instance_free(inst);
    if (path == NULL) {
        return 1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        struct error *err = NULL;

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

static int
server_image_create(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},
        {"wait", no_argument, NULL, 'w'},
        {"no-wait", no_argument, NULL, 'W'},
        {"freeze-timeout", required_argument, NULL, 't'},
        {"all-volumes", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct snapshot_opts so = {0};
    struct instance *inst;
    struct image *img = NULL;
    struct error *err = NULL;
    struct progress_bar *bar;
    int64_t v;
    int c, r;

    for (c = cli_getopt(argc, argv, "", opts, true); c != -1;
         c = cli_getopt(argc, argv, "", opts, false)) {
        switch (c) {
        case 'n':
            so.name = optarg;
            break;
        case 'w':
            so.no_wait = false;
            break;
        case 'W':
            so.no_wait = true;
            break;
        case 'a':
            so.all_volumes = true;
            break;
        case 't':
            if (util_parse_int64(optarg, &v, NULL) < 0 || v <= 0 ||
                v > 600) {
                return cli_usage(cli, "bad --freeze-timeout '%s' (seconds)",
                                 optarg);
            }
            so.freeze_timeout_ms = (int)v * 1000;
            break;
        case 'h':
            printf("usage: vmsnap server image create --name NAME "
                   "[--wait|--no-wait] [--freeze-timeout S] [--all-volumes] "
                   "SERVER\n");
            return 0;
        default:
            return 2;
        }
    }
    if (optind + 1 != argc || so.name == NULL) {
        return cli_usage(cli, "expected --name NAME and one SERVER");
    }
    if ((r = cli_check_columns(cli, cli_image_fields)) >= 0) {
        return r;
    }
    inst = cli_find_server(cli, argv[optind]);
    if (inst == NULL) {
        return 1;
    }
    reap_stale(cli->store);
    bar = progress_bar_new(cli_progress_enabled(cli) && !so.no_wait);
    so.progress = progress_bar_reporter(bar);
    r = snapshot_create(cli->store, inst, &so, &img, &err);
    progress_bar_free(bar);
    instance_free(inst);
    if (r < 0) {
        return cli_fail(cli, err);
    }
    r = cli_print(cli, cli_image_output(img));
    image_free(img);
    return r;
}

static int
server_backup_create(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},
        {"backup-type", required_argument, NULL, 'b'},
        {"rotation", required_argument, NULL, 'r'},
        {"all-volumes", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct snapshot_opts so = {0};
    const char *type = NULL;
    int64_t rotation = -1;
    struct instance *inst;
    struct image *img = NULL;
    struct error *err = NULL;
    struct progress_bar *bar;
    int c, r, deleted = 0;

    for (c = cli_getopt(argc, argv, "", opts, true); c != -1;
         c = cli_getopt(argc, argv, "", opts, false)) {
        switch (c) {
        case 'n':
            so.name = optarg;
            break;
        case 'b':
            type = optarg;
            break;
        case 'r':
            if (util_parse_int64(optarg, &rotation, NULL) < 0 ||
                rotation < 0 || rotation > 10000) {
                return cli_usage(cli, "bad --rotation '%s'", optarg);
            }
            break;
        case 'a':
            so.all_volumes = true;
            break;
        case 'h':
            printf("usage: vmsnap server backup create --name NAME "
                   "--backup-type TYPE --rotation K [--all-volumes] "
                   "SERVER\n"
                   "Keeps the K newest backups of SERVER of that type; "
                   "K=0 makes none and\ndeletes them all.\n");
            return 0;
        default:
            return 2;
        }
    }
    if (optind + 1 != argc || type == NULL || rotation < 0 ||
        (rotation > 0 && so.name == NULL)) {
        return cli_usage(cli, "expected --name NAME --backup-type TYPE "
                              "--rotation K and one SERVER");
    }
    if ((r = cli_check_columns(cli, cli_image_fields)) >= 0) {
        return r;
    }
    inst = cli_find_server(cli, argv[optind]);
    if (inst == NULL) {
        return 1;
    }
    reap_stale(cli->store);
    bar = progress_bar_new(cli_progress_enabled(cli));
    so.progress = progress_bar_reporter(bar);
    r = backup_create(cli->store, inst, &so, type, (int)rotation, &img,
                      &deleted, &err);
    progress_bar_free(bar);
    instance_free(inst);
    if (r < 0) {
        image_free(img);
        return cli_fail(cli, err);
    }
    if (deleted > 0 && !cli->quiet) {
        fprintf(stderr, "vmsnap: rotation deleted %d old %s backup%s\n",
                deleted, type, deleted == 1 ? "" : "s");
    }
    r = img ? cli_print(cli, cli_image_output(img)) : 0;
    image_free(img);
    return r;
}

const struct cli_command cli_server_commands[] = {
    {"server backup create", server_backup_create,
     "--name N --backup-type T --rotation K SERVER",
     "back an instance up, keeping the K newest of that type"},
    {"server image create", server_image_create,
     "--name NAME [--wait|--no-wait] SERVER",
     "snapshot an instance into a new image"},
    {"server create", server_create, "NAME --image IMAGE",
     "boot a new instance from an image"},
    {"server list", server_list, "", "list instances"},
    {"server show", server_show, "SERVER", "show an instance"},
    {"server stop", server_stop, "[--timeout S] SERVER",
     "shut an instance down (forced after the timeout)"},
    {"server start", server_start, "SERVER", "start a stopped instance"},
    {"server pause", server_pause, "SERVER", "pause an instance"},
    {"server unpause", server_unpause, "SERVER", "resume a paused instance"},
    {"server delete", server_delete, "SERVER", "delete an instance"},
    {"server console", server_console, "SERVER",
     "print an instance's serial console log"},
    {NULL, NULL, NULL, NULL},
};
