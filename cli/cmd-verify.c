/* vmsnap command line: "verify": check the data directory and the
 * catalog, and with --repair fix what can be fixed (verify.h).
 */
#include <stdio.h>

#include "cli.h"
#include "verify.h"
#include "xjson.h"

static const char *const verify_columns[] = {
    "Check", "Object", "Problem", "Repair", NULL,
};

static const struct cli_opt verify_opts[] = {
    {"repair", CLI_FLAG, NULL,
     "finish what dead processes left, remove orphans, kill left helpers, "
     "thaw guests nobody holds", 0, 0},
    {"no-data", CLI_FLAG, NULL,
     "do not read images' data (no checksums, no qemu-img check)", 0, 0},
    {"no-guests", CLI_FLAG, NULL, "do not ask running guests' agents", 0,
     0},
    {NULL, 0, NULL, NULL, 0, 0},
};

/* What became of finding F, in words. */
static const char *
verify_repair_word(const struct verify_finding *f, bool repair)
{
    if (f->repaired) {
        return "repaired";
    }
    if (!f->repairable) {
        return "needs a person";
    }
    return repair ? "not repaired" : "--repair fixes it";
}

static int
verify_cmd(struct cli *cli, const struct cli_args *a)
{
    struct verify_opts opts = {0};
    struct verify_report *r = NULL;
    struct output *out;
    struct error *err = NULL;
    size_t i, left;
    int rc;

    opts.repair = cli_flag(cli, a, "repair");
    opts.skip_data = cli_flag(cli, a, "no-data");
    opts.skip_guests = cli_flag(cli, a, "no-guests");
    /* No recovery first: verify reports what dead processes left, as
     * they left it (and --repair recovers it).
     */
    cli->svc = svc_open(cli->cfg, &err);
    if (cli->svc == NULL) {
        return cli_fail(cli, err);
    }
    if (verify_run(cli->svc, svc_local_caller(cli->svc), &opts, &r, &err) <
        0) {
        return cli_fail(cli, err);
    }
    out = output_new_list(verify_columns);
    for (i = 0; i < r->n; i++) {
        const struct verify_finding *f = &r->findings[i];
        json_object *row[4] = {
            xjson_string(f->check),
            xjson_string(f->object),
            xjson_string(f->problem),
            xjson_string(verify_repair_word(f, opts.repair)),
        };

        output_add_row(out, row);
    }
    rc = output_print(out, stdout, cli->format,
                      cli->columns[0] ? cli->columns : NULL, &err);
    output_free(out);
    left = verify_unrepaired(r);
    if (!cli->quiet) {
        fprintf(stderr,
                "vmsnap verify: %zu images, %zu volumes, %zu volume "
                "snapshots, %zu servers checked: %zu problems, %zu "
                "left%s\n",
                r->images, r->volumes, r->volume_snapshots, r->servers, r->n,
                left,
                r->guests_unreachable ? " (some guest agents did not "
                                        "answer)"
                                      : "");
    }
    verify_report_free(r);
    if (rc < 0) {
        return cli_fail(cli, err);
    }
    return left > 0 ? 1 : 0;
}

const struct cli_command cli_verify_commands[] = {
    {"verify", verify_cmd, "", 0, 0, verify_opts, verify_columns,
     "check the catalog, the data, leftovers and guests; exit 1 if "
     "anything is wrong",
     "Checks: the catalog's integrity; every active image's size, MD5,\n"
     "SHA-512 and qemu-img check; volumes and volume snapshots; records\n"
     "left half-way by processes that died; files and directories no\n"
     "record or live lock claims (images/, volume-snapshots/, volumes/,\n"
     "instances/, tmp/, locks/); helpers left running (qemu-img,\n"
     "vmsnap-worker); guests left frozen.  --repair removes only what is\n"
     "provably orphaned and checks again.  Exit status 1 when a problem\n"
     "is left.",
     false},
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, false},
};
