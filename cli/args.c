/* vmsnap command line: parsing a command's arguments against its table
 * (see cli.h).
 *
 * Options come as "--name VALUE", "--name=VALUE" or, for flags,
 * "--name"; the global options (-f/--format, -c/--column, -q/--quiet,
 * --data-dir, --config) may be mixed in anywhere, as the openstack
 * client allows.  A command's own option of the same name wins (image
 * export's --format).  "--" ends the options.  A command that runs a
 * program (agent exec) ends them at its first positional argument, so
 * that the program's own options are never taken for ours.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

/* The index of option NAME (LEN bytes) in CMD's table, or -1. */
static int
cli_find_opt(const struct cli_command *cmd, const char *name, size_t len)
{
    int i;

    for (i = 0; cmd->opts && cmd->opts[i].name; i++) {
        if (strlen(cmd->opts[i].name) == len &&
            strncmp(cmd->opts[i].name, name, len) == 0) {
            return i;
        }
    }
    return -1;
}

static int
cli_find_opt_or_abort(const struct cli *cli, const char *name)
{
    int i = cli_find_opt(cli->cmd, name, strlen(name));

    if (i < 0) {
        abort();    /* a handler asked for an option its table lacks */
    }
    return i;
}

/* A global option NAME (LEN bytes) with VALUE: 1 if taken, 0 if not a
 * global one, -1 after a usage error.
 */
static int
cli_global(struct cli *cli, const char *name, size_t len, const char *value)
{
    struct error *err = NULL;

#define IS(s) (len == strlen(s) && strncmp(name, s, len) == 0)
    if (IS("-f") || IS("--format")) {
        if (output_parse_format(value, &cli->format, &err) < 0) {
            cli_fail(cli, err);
            return -1;
        }
    } else if (IS("-c") || IS("--column")) {
        if (cli->ncolumns >= CLI_MAX_COLUMNS) {
            cli_usage(cli, "too many -c options");
            return -1;
        }
        cli->columns[cli->ncolumns++] = value;
        cli->columns[cli->ncolumns] = NULL;
    } else if (IS("--data-dir")) {
        cli->data_dir = value;
    } else if (IS("--config")) {
        cli->config_file = value;
    } else {
        return 0;
    }
#undef IS
    return 1;
}

static bool
cli_is_global_flag(const char *a)
{
    return strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0;
}

static bool
cli_global_takes_value(const char *name, size_t len)
{
    static const char *const names[] = {"-f", "--format", "-c", "--column",
                                        "--data-dir", "--config", NULL};
    size_t i;

    for (i = 0; names[i]; i++) {
        if (len == strlen(names[i]) && strncmp(name, names[i], len) == 0) {
            return true;
        }
    }
    return false;
}

/* Store VALUE for option I of the command. */
static int
cli_take_opt(struct cli *cli, struct cli_args *a, int i, const char *value)
{
    const struct cli_opt *o = &cli->cmd->opts[i];
    struct error *err = NULL;
    int64_t n = 0;

    switch (o->type) {
    case CLI_FLAG:
        break;
    case CLI_STR:
        break;
    case CLI_INT:
        if (util_parse_int64(value, &n, &err) < 0 || n < o->min ||
            n > o->max) {
            error_free(err);
            return cli_usage(cli, "--%s must be a number from %lld to %lld, "
                                  "not '%s'",
                             o->name, (long long)o->min, (long long)o->max,
                             value);
        }
        break;
    case CLI_SIZE:
        if (util_parse_size(value, &n, &err) < 0) {
            cli_fail(cli, err);
            return 2;
        }
        break;
    case CLI_MULTI:
        if (a->nmulti >= CLI_MAX_MULTI) {
            return cli_usage(cli, "too many --%s options", o->name);
        }
        a->multi[a->nmulti] = value;
        a->multi_opt[a->nmulti++] = i;
        break;
    }
    a->set[i] = true;
    a->str[i] = value;
    a->num[i] = n;
    return -1;
}

int
cli_take_global(struct cli *cli, int argc, char **argv, int *used)
{
    const char *arg = argv[0], *eq = strchr(argv[0], '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);

    *used = 0;
    if (cli_is_global_flag(arg)) {
        cli->quiet = true;
        *used = 1;
        return -1;
    }
    if (!cli_global_takes_value(arg, len)) {
        return -1;
    }
    if (eq == NULL && argc < 2) {
        return cli_usage(cli, "option %s needs a value", arg);
    }
    *used = eq ? 1 : 2;
    return cli_global(cli, arg, len, eq ? eq + 1 : argv[1]) < 0 ? 2 : -1;
}

int
cli_parse(struct cli *cli, const struct cli_command *cmd, int argc,
          char **argv, struct cli_args *a)
{
    bool options = true;
    int i, r, used;

    memset(a, 0, sizeof(*a));
    cli->cmd = cmd;
    for (i = 0; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq, *value = NULL;
        size_t len;
        int o;

        if (options && strcmp(arg, "--") == 0) {
            options = false;
            continue;
        }
        /* "SERVER -- PROGRAM": the "--" after the first argument of a
         * command that runs a program is the user's way of saying what
         * we already know, not part of the program's command line.
         */
        if (!options && cmd->rest_after_first && a->npos == 1 &&
            !a->set_dashdash && strcmp(arg, "--") == 0) {
            a->set_dashdash = true;
            continue;
        }
        if (!options || arg[0] != '-' || arg[1] == '\0') {
            if (a->npos >= CLI_MAX_ARGS) {
                return cli_usage(cli, "too many arguments");
            }
            a->pos[a->npos++] = arg;
            if (cmd->rest_after_first) {
                options = false;
            }
            continue;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            cli_print_usage(cmd, stdout);
            return 0;
        }
        eq = strchr(arg, '=');
        len = eq ? (size_t)(eq - arg) : strlen(arg);
        o = strncmp(arg, "--", 2) == 0 ? cli_find_opt(cmd, arg + 2, len - 2)
                                       : -1;
        if (o < 0) {
            /* Not the command's own: a global option, or a mistake. */
            r = cli_take_global(cli, argc - i, argv + i, &used);
            if (r >= 0) {
                return r;
            }
            if (used == 0) {
                return cli_usage(cli, "unknown option %.*s", (int)len, arg);
            }
            i += used - 1;
            continue;
        }
        if (cmd->opts[o].type == CLI_FLAG) {
            if (eq) {
                return cli_usage(cli, "--%s takes no value",
                                 cmd->opts[o].name);
            }
            a->set[o] = true;
            continue;
        }
        if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            return cli_usage(cli, "option %s needs a value", arg);
        }
        r = cli_take_opt(cli, a, o, value);
        if (r >= 0) {
            return r;
        }
    }
    if (a->npos < cmd->min_args ||
        (cmd->max_args >= 0 && a->npos > cmd->max_args)) {
        return cli_usage(cli, "expected %s", cmd->args && *cmd->args
                                                 ? cmd->args
                                                 : "no arguments");
    }
    return -1;
}

void
cli_print_usage(const struct cli_command *cmd, FILE *fp)
{
    int i;

    fprintf(fp, "usage: vmsnap %s", cmd->words);
    for (i = 0; cmd->opts && cmd->opts[i].name; i++) {
        const struct cli_opt *o = &cmd->opts[i];

        fprintf(fp, o->type == CLI_FLAG ? " [--%s]" : " [--%s %s]%s",
                o->name, o->arg ? o->arg : "VALUE",
                o->type == CLI_MULTI ? "..." : "");
    }
    fprintf(fp, "%s%s\n\n%s\n", cmd->args && *cmd->args ? " " : "",
            cmd->args ? cmd->args : "", cmd->summary);
    if (cmd->help) {
        fprintf(fp, "%s\n", cmd->help);
    }
    if (cmd->opts && cmd->opts[0].name) {
        fprintf(fp, "\nOptions:\n");
    }
    for (i = 0; cmd->opts && cmd->opts[i].name; i++) {
        const struct cli_opt *o = &cmd->opts[i];
        char left[64];

        snprintf(left, sizeof(left), o->type == CLI_FLAG ? "--%s" : "--%s %s",
                 o->name, o->arg ? o->arg : "VALUE");
        fprintf(fp, "  %-26s %s\n", left, o->help);
    }
    fprintf(fp, "\nEvery command also takes -f table|json|value|shell, "
                "-c COLUMN, -q,\n--data-dir DIR and --config FILE.\n");
}

const char *
cli_str(const struct cli *cli, const struct cli_args *a, const char *name)
{
    return a->str[cli_find_opt_or_abort(cli, name)];
}

bool
cli_flag(const struct cli *cli, const struct cli_args *a, const char *name)
{
    return a->set[cli_find_opt_or_abort(cli, name)];
}

int64_t
cli_num(const struct cli *cli, const struct cli_args *a, const char *name,
        int64_t def)
{
    int i = cli_find_opt_or_abort(cli, name);

    return a->set[i] ? a->num[i] : def;
}

int
cli_multi(const struct cli *cli, const struct cli_args *a, const char *name,
          const char **out)
{
    int o = cli_find_opt_or_abort(cli, name), i, n = 0;

    for (i = 0; i < a->nmulti; i++) {
        if (a->multi_opt[i] == o) {
            out[n++] = a->multi[i];
        }
    }
    return n;
}
