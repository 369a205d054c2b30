/* vmsnap: command line front end.
 *
 *   vmsnap [--data-dir DIR] [-f table|json|value|shell] [-c COLUMN]...
 *          COMMAND WORDS [ARGS]
 *
 * The command words follow the openstack client ("image create",
 * "server image create").  Global options may appear anywhere.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"

static const struct cli_command *const cli_tables[] = {
    cli_image_commands,
    cli_server_commands,
    cli_agent_commands,
    cli_volume_commands,
};

#define N_TABLES (sizeof(cli_tables) / sizeof(cli_tables[0]))

static void
cli_print_help(FILE *fp)
{
    size_t t;
    const struct cli_command *c;

    fprintf(fp,
            "usage: vmsnap [--data-dir DIR] [-f FORMAT] [-c COLUMN]... "
            "COMMAND [ARGS]\n\n"
            "Global options:\n"
            "  --data-dir DIR   data directory (default /var/lib/vmsnap "
            "for root;\n"
            "                   also $VMSNAP_DATA_DIR)\n"
            "  -f, --format F   output format: table, json, value, shell\n"
            "  -c, --column C   show only column C (repeatable)\n"
            "  -q, --quiet      no progress output\n\n"
            "Commands:\n");
    for (t = 0; t < N_TABLES; t++) {
        for (c = cli_tables[t]; c->words; c++) {
            fprintf(fp, "  %-24s %s\n", c->words, c->summary);
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

/* Move the global options out of ARGV (in place); return the new argc or
 * -1 after printing a usage error.
 */
static int
cli_take_globals(struct cli *cli, int argc, char **argv)
{
    int i, out = 1, ncols = 0;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        bool takes = false;
        int first = i;  /* where this option began in argv */

        if (strcmp(a, "--") == 0) {
            while (i < argc) {
                argv[out++] = argv[i++];
            }
            break;
        }
        if (strcmp(a, "--data-dir") == 0 || strcmp(a, "-f") == 0 ||
            strcmp(a, "--format") == 0 || strcmp(a, "-c") == 0 ||
            strcmp(a, "--column") == 0) {
            takes = true;
            if (i + 1 >= argc) {
                fprintf(stderr, "vmsnap: option %s needs a value\n", a);
                return -1;
            }
            val = argv[++i];
        } else if (strncmp(a, "--data-dir=", 11) == 0) {
            takes = true;
            val = a + 11;
            a = "--data-dir";
        } else if (strncmp(a, "--format=", 9) == 0) {
            takes = true;
            val = a + 9;
            a = "-f";
        } else if (strncmp(a, "--column=", 9) == 0) {
            takes = true;
            val = a + 9;
            a = "-c";
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            cli->quiet = true;
            continue;
        }
        if (!takes) {
            argv[out++] = argv[i];
            continue;
        }
        if (strcmp(a, "--data-dir") == 0) {
            cli->data_dir = val;
        } else if (strcmp(a, "-f") == 0 || strcmp(a, "--format") == 0) {
            struct error *err = NULL;

            /* "image export --format ova" is the command's own option,
             * as in the openstack client: hand it through.
             */
            if (strcmp(val, "ova") == 0) {
                /* Copy the option as it was written (one word or two):
                 * never more entries than were read.
                 */
                while (first <= i) {
                    argv[out++] = argv[first++];
                }
                continue;
            }
            if (output_parse_format(val, &cli->format, &err) < 0) {
                error_report("vmsnap", err);
                return -1;
            }
        } else {
            if (ncols >= CLI_MAX_COLUMNS) {
                fprintf(stderr, "vmsnap: too many -c options\n");
                return -1;
            }
            cli->columns[ncols++] = val;
        }
    }
    argv[out] = NULL;
    return out;
}

int
main(int argc, char **argv)
{
    struct cli cli = {.format = OUTPUT_TABLE};
    const struct cli_command *best = NULL;
    int best_n = 0, r;
    size_t t;

    log_init("vmsnap");
    /* A peer that goes away (QEMU, the agent, the thaw watchdog) is an
     * error to report, not a reason to die: writes get EPIPE instead.
     */
    signal(SIGPIPE, SIG_IGN);
    argc = cli_take_globals(&cli, argc, argv);
    if (argc < 0) {
        return 2;
    }
    if (argc < 2 || strcmp(argv[1], "help") == 0 ||
        strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        cli_print_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("vmsnap %s\n", VMSNAP_VERSION);
        return 0;
    }
    for (t = 0; t < N_TABLES; t++) {
        const struct cli_command *c;

        for (c = cli_tables[t]; c->words; c++) {
            int n = cli_match_words(c->words, argc - 1, argv + 1);

            if (n > best_n) {
                best = c;
                best_n = n;
            }
        }
    }
    if (best == NULL) {
        fprintf(stderr, "vmsnap: unknown command '%s' (try vmsnap help)\n",
                argv[1]);
        return 2;
    }
    cli.command = best->words;
    /* The handler sees its arguments as argv[1..]; argv[0] is the
     * command words for getopt's messages.
     */
    argv[best_n] = (char *)best->words;
    r = best->run(&cli, argc - best_n, argv + best_n);
    store_close(cli.store);
    return r;
}
