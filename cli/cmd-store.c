/* vmsnap command line: "store ..." commands: the chunk store that keeps
 * incremental backups (store.h).
 */
#include <stdio.h>

#include "cli.h"
#include "progress-bar.h"
#include "store.h"

static const char *const store_show_fields[] = {
    "backups",     "chunk_size",  "chunks",       "data_bytes",
    "dedup_ratio", "disk_bytes",  "indexes",      "logical_bytes",
    "referenced_chunks", "stored_bytes", NULL,
};

static const char *const store_verify_fields[] = {
    "bytes",          "chunks",         "chunks_bad", "chunks_missing",
    "chunks_removed", "indexes",        "indexes_bad", "problems",
    NULL,
};

static const char *const store_gc_fields[] = {
    "bytes_compacted", "bytes_removed", "chunks",       "chunks_recent",
    "chunks_referenced", "chunks_removed", "dry_run",   "indexes",
    "tmp_removed",     "trash_marked",  "trash_removed", NULL,
};

/* Every member of a report, as a field. */
static struct output *
store_form(json_object *v)
{
    struct output *out = output_new_show();

    json_object_object_foreach(v, key, val) {
        output_add_field(out, key, val ? json_object_get(val) : NULL);
    }
    return out;
}

static int
store_show_cmd(struct cli *cli, const struct cli_args *a)
{
    json_object *rep = NULL;
    struct error *err = NULL;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    if (store_show(cli->svc, &rep, &err) < 0) {
        return cli_fail(cli, err);
    }
    return cli_show(cli, rep, store_form);
}

static const struct cli_opt store_verify_opts[] = {
    {"repair", CLI_FLAG, NULL,
     "remove damaged chunks, so that the next backup of their data stores "
     "it again",
     0, 0},
    {NULL, 0, NULL, NULL, 0, 0},
};

static int
store_verify_cmd(struct cli *cli, const struct cli_args *a)
{
    struct progress_bar *bar;
    json_object *rep = NULL, *problems;
    struct error *err = NULL;
    size_t n = 0;
    int r;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    bar = progress_bar_new(cli_progress_enabled(cli));
    r = store_verify(cli->svc, cli_flag(cli, a, "repair"),
                     progress_bar_reporter(bar), &rep, &err);
    progress_bar_free(bar);
    if (r < 0) {
        return cli_fail(cli, err);
    }
    if (json_object_object_get_ex(rep, "problems", &problems)) {
        n = json_object_array_length(problems);
    }
    r = cli_show(cli, rep, store_form);
    if (n > 0) {
        fprintf(stderr, "vmsnap store verify: %zu problem%s found\n", n,
                n == 1 ? "" : "s");
        return 1;
    }
    return r;
}

static const struct cli_opt store_gc_opts[] = {
    {"dry-run", CLI_FLAG, NULL, "count what would go, remove nothing", 0, 0},
    {"grace", CLI_INT, "S",
     "keep unreferenced chunks younger than S seconds (default 300)", 0,
     INT32_MAX},
    {NULL, 0, NULL, NULL, 0, 0},
};

static int
store_gc_cmd(struct cli *cli, const struct cli_args *a)
{
    struct progress_bar *bar;
    json_object *rep = NULL;
    struct error *err = NULL;
    int r;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    bar = progress_bar_new(cli_progress_enabled(cli));
    r = store_gc(cli->svc, cli_flag(cli, a, "dry-run"),
                 cli_num(cli, a, "grace", -1), progress_bar_reporter(bar),
                 &rep, &err);
    progress_bar_free(bar);
    if (r < 0) {
        return cli_fail(cli, err);
    }
    return cli_show(cli, rep, store_form);
}

const struct cli_command cli_store_commands[] = {
    {"store show", store_show_cmd, "", 0, 0, NULL, store_show_fields,
     "show the chunk store's usage, dedup ratio and backups", NULL, false},
    {"store verify", store_verify_cmd, "", 0, 0, store_verify_opts,
     store_verify_fields,
     "read every chunk of the store and check its digest",
     "Reports each damaged or missing chunk with the backups it touches;\n"
     "exits 1 when there is any.",
     false},
    {"store gc", store_gc_cmd, "", 0, 0, store_gc_opts, store_gc_fields,
     "remove the chunks no backup references",
     "Safe while backups run: a chunk a running backup may still use is\n"
     "kept.",
     false},
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, false},
};
