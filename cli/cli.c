/* vmsnap command line: helpers shared by the command modules. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

json_object *
cli_json_str(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

json_object *
cli_json_props(const struct prop *props, size_t n)
{
    json_object *o = json_object_new_object();
    size_t i;

    for (i = 0; o && i < n; i++) {
        json_object_object_add(o, props[i].key,
                               json_object_new_string(props[i].value));
    }
    return o;
}

int
cli_positional(struct cli *cli, int argc, char **argv, int nargs,
               const char *usage)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int c;

    for (c = cli_getopt(argc, argv, "", opts, true); c != -1;
         c = cli_getopt(argc, argv, "", opts, false)) {
        if (c == 'h') {
            printf("usage: vmsnap %s %s\n", cli->command, usage);
            return 0;
        }
        return 2;
    }
    if (argc - optind != nargs) {
        return cli_usage(cli, "expected %s", usage);
    }
    return -1;
}

int
cli_check_columns(const struct cli *cli, const char *const *known)
{
    size_t i, j;

    for (i = 0; cli->columns[i]; i++) {
        for (j = 0; known[j]; j++) {
            if (strcasecmp(cli->columns[i], known[j]) == 0) {
                break;
            }
        }
        if (known[j] == NULL) {
            return cli_usage(cli, "no column named %s", cli->columns[i]);
        }
    }
    return -1;
}
