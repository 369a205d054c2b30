/* Unit tests of the command line's parser (cli_main with a stub in place
 * of the commands): global options among a command's arguments, and
 * "agent exec", whose program's options are never ours (audit M2).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "tap.h"

/* What the stub saw. */
static struct {
    const char *words;              /* the command */
    const char *pos[CLI_MAX_ARGS];  /* its positional arguments */
    int npos;                       /* how many */
    int ncolumns;                   /* -c options taken */
    const char *column0;            /* the first */
    enum output_format format;      /* -f */
    const char *data_dir;           /* --data-dir */
    bool quiet;                     /* -q */
} seen;

static int
stub_run(struct cli *cli, const struct cli_command *cmd,
         const struct cli_args *a)
{
    int i;

    memset(&seen, 0, sizeof(seen));
    seen.words = cmd->words;
    seen.npos = a->npos;
    for (i = 0; i < a->npos; i++) {
        seen.pos[i] = a->pos[i];
    }
    seen.ncolumns = cli->ncolumns;
    seen.column0 = cli->columns[0];
    seen.format = cli->format;
    seen.data_dir = cli->data_dir;
    seen.quiet = cli->quiet;
    return 0;
}

/* Run the parser on the NULL-terminated words W; its exit status. */
static int
parse(const char **w)
{
    char *argv[32];
    int argc = 0;

    argv[argc++] = (char *)"vmsnap";
    while (*w) {
        argv[argc++] = (char *)*w++;
    }
    argv[argc] = NULL;
    memset(&seen, 0, sizeof(seen));
    return cli_main(argc, argv, stub_run);
}

static bool
pos_are(const char *const *want, int n)
{
    int i;

    if (seen.npos != n) {
        return false;
    }
    for (i = 0; i < n; i++) {
        if (strcmp(seen.pos[i], want[i]) != 0) {
            return false;
        }
    }
    return true;
}

int
main(void)
{
    {
        const char *w[] = {"agent", "exec", "vm", "/bin/sh", "-c",
                           "echo hi", NULL};
        const char *want[] = {"vm", "/bin/sh", "-c", "echo hi"};

        ok(parse(w) == 0 && seen.words &&
               strcmp(seen.words, "agent exec") == 0,
           "agent exec without --: parsed");
        ok(pos_are(want, 4) && seen.ncolumns == 0,
           "agent exec vm /bin/sh -c 'echo hi': -c is the program's "
           "(audit M2)");
    }
    {
        const char *w[] = {"agent", "exec", "vm", "/usr/bin/env",
                           "--data-dir=/x", "-q", "-f", "json", NULL};
        const char *want[] = {"vm", "/usr/bin/env", "--data-dir=/x", "-q",
                              "-f", "json"};

        ok(parse(w) == 0 && pos_are(want, 6) && seen.data_dir == NULL &&
               !seen.quiet && seen.format == OUTPUT_TABLE,
           "agent exec: --data-dir, -q and -f after the server are the "
           "program's");
    }
    {
        const char *w[] = {"agent", "exec", "-f", "json", "vm", "--", "ls",
                           "-l", NULL};
        const char *want[] = {"vm", "ls", "-l"};

        ok(parse(w) == 0 && pos_are(want, 3) && seen.format == OUTPUT_JSON,
           "agent exec: options before the server are ours, -- ends them");
    }
    {
        const char *w[] = {"image", "list", "-c", "ID", "-f", "value", NULL};

        ok(parse(w) == 0 && seen.ncolumns == 1 &&
               strcmp(seen.column0, "ID") == 0 &&
               seen.format == OUTPUT_VALUE,
           "image list -c ID -f value: global options after the command");
    }
    {
        const char *w[] = {"verify", "--repair", "-f", "json", NULL};

        ok(parse(w) == 0 && strcmp(seen.words, "verify") == 0 &&
               seen.format == OUTPUT_JSON,
           "verify --repair -f json");
    }
    {
        const char *w[] = {"image", "list", "-c", NULL};

        ok(parse(w) == 2, "-c without its value is a usage error");
    }
    {
        const char *w[] = {"image", "frobnicate", NULL};

        ok(parse(w) == 2, "an unknown command is a usage error");
    }
    return tap_done();
}
