/* vmsnap command line: helpers shared by the command modules. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"

struct store *
cli_store(struct cli *cli)
{
    struct error *err = NULL;

    if (cli->store == NULL) {
        cli->store = store_open(cli->data_dir, &err);
        if (cli->store == NULL) {
            cli_fail(cli, err);
        }
    }
    return cli->store;
}

int
cli_getopt(int argc, char **argv, const char *shortopts,
           const struct option *opts, bool reset)
{
    if (reset) {
        /* optind 0 makes glibc reinitialise its scanner. */
        optind = 0;
    }
    opterr = 1;
    return getopt_long(argc, argv, shortopts, opts, NULL);
}

int
cli_fail(const struct cli *cli, struct error *err)
{
    if (err) {
        fprintf(stderr, "vmsnap %s: %s\n", cli->command ? cli->command : "",
                error_msg(err));
        error_free(err);
    }
    return 1;
}

int
cli_usage(const struct cli *cli, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "vmsnap %s: ", cli->command);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see vmsnap %s --help)\n", cli->command);
    return 2;
}

int
cli_parse_property(const char *arg, char **key, char **value,
                   struct error **errp)
{
    const char *eq = strchr(arg, '=');

    if (eq == NULL || eq == arg) {
        error_setg(errp, ERR_INVALID,
                   "bad property '%s': expected KEY=VALUE", arg);
        return -1;
    }
    *key = strndup(arg, eq - arg);
    *value = strdup(eq + 1);
    if (*key == NULL || *value == NULL) {
        free(*key);
        free(*value);
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    return 0;
}

int
cli_print(struct cli *cli, struct output *out)
{
    struct error *err = NULL;
    int r;

    r = output_print(out, stdout, cli->format,
                     cli->columns[0] ? cli->columns : NULL, &err);
    output_free(out);
    if (r < 0) {
        return cli_fail(cli, err);
    }
    return 0;
}

bool
cli_progress_enabled(const struct cli *cli)
{
    return !cli->quiet && isatty(STDERR_FILENO);
}
