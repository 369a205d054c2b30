/* vmsnap command line: from argv to a command's handler (see cli.h,
 * cli_main).
 *
 *   vmsnap [--config FILE] [--data-dir DIR] [-f table|json|value|shell]
 *          [-c COLUMN]... [-q] COMMAND WORDS [ARGS]
 *
 * The command words follow the openstack client ("image create",
 * "server image create").  Global options may also appear among the
 * command's arguments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"

static const struct cli_command *const cli_tables[] = {
    cli_image_commands,  cli_server_commands, cli_agent_commands,
    cli_volume_commands, cli_task_commands,   cli_config_commands,
    cli_store_commands,  cli_identity_commands, cli_verify_commands,
};

#define N_TABLES (sizeof(cli_tables) / sizeof(cli_tables[0]))

static void
cli_print_help(FILE *fp)
{
    const struct cli_command *c;
    size_t t;

    fprintf(fp,
            "usage: vmsnap [--config FILE] [--data-dir DIR] [-f FORMAT] "
            "[-c COLUMN]... [-q]\n"
            "              COMMAND [ARGS]\n\n"
            "Global options:\n"
            "  --config FILE    configuration file (default "
            CONFIG_DEFAULT_FILE ")\n"
            "  --data-dir DIR   data directory (default /var/lib/vmsnap "
            "for root)\n"
            "  -f, --format F   output format: table, json, value, shell\n"
            "  -c, --column C   show only column C (repeatable)\n"
            "  -q, --quiet      no progress output\n\n"
            "Commands (vmsnap COMMAND --help for each):\n");
    for (t = 0; t < N_TABLES; t++) {
        for (c = cli_tables[t]; c->words; c++) {
            fprintf(fp, "  %-26s %s\n", c->words, c->summary);
        }
    }
}

/* Number of leading ARGV words that spell WORDS ("image create"), or 0. */
static int
cli_match_words(const char *words, int argc, char **argv)
{
    const char *p = words;
    int n = 0;

    while (*p) {
        size_t len = strcspn(p, " ");

        if (n >= argc || strlen(argv[n]) != len ||
            strncmp(argv[n], p, len) != 0) {
            return 0;
        }
        n++;
        p += len;
        if (*p == ' ') {
            p++;
        }
    }
    return n;
}

/* The command spelled by the first words of ARGV, and how many words. */
static const struct cli_command *
cli_find_command(int argc, char **argv, int *nwords)
{
    const struct cli_command *best = NULL, *c;
    size_t t;

    *nwords = 0;
    for (t = 0; t < N_TABLES; t++) {
        for (c = cli_tables[t]; c->words; c++) {
            int n = cli_match_words(c->words, argc, argv);

            if (n > *nwords) {
                best = c;
                *nwords = n;
            }
        }
    }
    return best;
}

/* The command line's own settings on top of the file and environment. */
static int
cli_load_config(struct cli *cli)
{
    struct error *err = NULL;

    cli->cfg = config_load(cli->config_file, &err);
    if (cli->cfg && cli->data_dir &&
        config_set(cli->cfg, "data_dir", cli->data_dir, &err) < 0) {
        config_free(cli->cfg);
        cli->cfg = NULL;
    }
    if (cli->cfg == NULL) {
        return cli_fail(cli, err);
    }
    log_set_debug(cli->cfg->debug);
    return 0;
}

int
cli_main(int argc, char **argv, cli_run_fn run)
{
    static const struct cli_command none = {.words = ""};
    struct cli cli = {.format = OUTPUT_TABLE, .cmd = &none};
    const struct cli_command *cmd;
    struct cli_args args;
    int first = 1, nwords, r;

    /* Global options before the command words. */
    while (first < argc && argv[first][0] == '-') {
        int used;

        r = cli_take_global(&cli, argc - first, argv + first, &used);
        if (r >= 0) {
            return r;
        }
        if (used == 0) {
            break;
        }
        first += used;
    }
    if (first >= argc || strcmp(argv[first], "help") == 0 ||
        strcmp(argv[first], "--help") == 0 || strcmp(argv[first], "-h") == 0) {
        cli_print_help(first >= argc ? stderr : stdout);
        return first >= argc ? 2 : 0;
    }
    if (strcmp(argv[first], "--version") == 0) {
        printf("vmsnap %s\n", VMSNAP_VERSION);
        return 0;
    }
    cmd = cli_find_command(argc - first, argv + first, &nwords);
    if (cmd == NULL) {
        fprintf(stderr, "vmsnap: unknown command '%s' (try vmsnap help)\n",
                argv[first]);
        return 2;
    }
    r = cli_parse(&cli, cmd, argc - first - nwords, argv + first + nwords,
                  &args);
    if (r >= 0) {
        return r;
    }
    if (cmd->columns) {
        for (int i = 0; i < cli.ncolumns; i++) {
            size_t j;

            for (j = 0; cmd->columns[j]; j++) {
                if (strcasecmp(cli.columns[i], cmd->columns[j]) == 0) {
                    break;
                }
            }
            if (cmd->columns[j] == NULL) {
                return cli_usage(&cli, "no column named %s", cli.columns[i]);
            }
        }
    }
    if (run != NULL) {
        return run(&cli, cmd, &args);
    }
    r = cli_load_config(&cli);
    if (r == 0) {
        r = cmd->run(&cli, &args);
    }
    svc_close(cli.svc);
    config_free(cli.cfg);
    return r;
}
