/* vmsnap command line: what the command modules share.
 *
 * Each module declares its commands in a table: the words ("server image
 * create"), the positional arguments, the options (name, type, value
 * name, help) and the output columns.  main.c finds the command, parses
 * the line against the table (args.c), and calls the handler with what
 * it found; usage and --help come from the same table, so they cannot
 * drift.  Handlers call the services (lib/services) and print what they
 * return with show.c; they never touch the catalog.
 *
 * Handlers return an exit status: 0 success, 1 failure (an error already
 * printed), 2 bad usage.
 */
#ifndef VMSNAP_CLI_H
#define VMSNAP_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "catalog.h"
#include "config.h"
#include "error.h"
#include "output.h"
#include "progress.h"
#include "svc.h"

#define CLI_MAX_COLUMNS 32
#define CLI_MAX_OPTS 16
#define CLI_MAX_ARGS 64
#define CLI_MAX_MULTI 128

enum cli_opt_type {
    CLI_FLAG,       /* --name */
    CLI_STR,        /* --name VALUE */
    CLI_INT,        /* --name N, in [min, max] */
    CLI_SIZE,       /* --name SIZE (512M, 1G) */
    CLI_MULTI,      /* --name VALUE, repeatable */
};

/* One option of a command. */
struct cli_opt {
    const char *name;       /* long name, without "--" */
    enum cli_opt_type type; /* what it takes */
    const char *arg;        /* the value's name in usage ("FILE") */
    const char *help;       /* one line */
    int64_t min, max;       /* range of a CLI_INT */
};

/* What the parser found.  Values are borrowed from argv. */
struct cli_args {
    const char *pos[CLI_MAX_ARGS];       /* positional arguments */
    int npos;                            /* how many */
    bool set[CLI_MAX_OPTS];              /* option I was given */
    const char *str[CLI_MAX_OPTS];       /* its value (last one) */
    int64_t num[CLI_MAX_OPTS];           /* parsed CLI_INT, CLI_SIZE */
    const char *multi[CLI_MAX_MULTI];    /* every CLI_MULTI value, in order */
    int multi_opt[CLI_MAX_MULTI];        /* the option of each */
    int nmulti;                          /* how many */
    bool set_dashdash;                   /* "--" seen after the first
                                          * argument (rest_after_first) */
};

struct cli;

struct cli_command {
    const char *words;           /* "image create" */
    int (*run)(struct cli *cli, const struct cli_args *a);
    const char *args;            /* positional arguments, for usage */
    int min_args;                /* at least this many positional */
    int max_args;                /* at most; -1: any number */
    const struct cli_opt *opts;  /* the options (NULL-name terminated) */
    const char *const *columns;  /* columns -c may pick, or NULL */
    const char *summary;         /* one line */
    const char *help;            /* more lines for --help, or NULL */
    bool rest_after_first;       /* options end at the first positional
                                  * argument (the rest is a program's
                                  * command line) */
};

/* The state of one run of the command. */
struct cli {
    struct config *cfg;                /* the configuration */
    const char *config_file;           /* --config */
    const char *data_dir;              /* --data-dir */
    enum output_format format;         /* -f */
    const char *columns[CLI_MAX_COLUMNS + 1]; /* -c, NULL-terminated */
    int ncolumns;                      /* entries in columns */
    bool quiet;                        /* -q: no progress output */
    const struct cli_command *cmd;     /* the command running */
    struct svc *svc;                   /* opened by cli_svc */
};

/* The command tables of each module, terminated by a NULL words entry. */
extern const struct cli_command cli_image_commands[];
extern const struct cli_command cli_server_commands[];
extern const struct cli_command cli_agent_commands[];
extern const struct cli_command cli_volume_commands[];
extern const struct cli_command cli_task_commands[];
extern const struct cli_command cli_config_commands[];
extern const struct cli_command cli_store_commands[];
extern const struct cli_command cli_identity_commands[];
extern const struct cli_command cli_verify_commands[];

/* Instead of running a command: what a test or fuzzer does with the
 * command CMD that ARGV named and the arguments A parsed for it (CLI
 * holds the global options).  Returns an exit status.
 */
typedef int (*cli_run_fn)(struct cli *cli, const struct cli_command *cmd,
                          const struct cli_args *a);

/* The whole command line: find the command ARGV (ARGC words, ARGV[0] the
 * program) names, parse its options, load the configuration and run it
 * (or, when RUN is not NULL, hand the parsed command to RUN without
 * loading anything).  Returns the exit status: 0, 1 failure, 2 usage.
 */
int cli_main(int argc, char **argv, cli_run_fn run);

/* Parse ARGV (the words after the command's own) for CMD into *A, taking
 * the global options (-f, -c, -q, --data-dir, --config) into CLI.
 * Returns -1 to go on, else the exit status (help printed: 0; a usage
 * error printed: 2).
 */
int cli_parse(struct cli *cli, const struct cli_command *cmd, int argc,
              char **argv, struct cli_args *a);

/* If ARGV[0] (of ARGC words) is a global option, take it and its value
 * into CLI and set *USED to the words it took (0: not a global option).
 * Returns -1 to go on, else the exit status (a usage error printed).
 */
int cli_take_global(struct cli *cli, int argc, char **argv, int *used);

/* Print CMD's usage and help on FP. */
void cli_print_usage(const struct cli_command *cmd, FILE *fp);

/* The value of option NAME of the current command: the string (NULL when
 * not given), whether it was given, the number (DEF when not given).
 */
const char *cli_str(const struct cli *cli, const struct cli_args *a,
                    const char *name);
bool cli_flag(const struct cli *cli, const struct cli_args *a,
              const char *name);
int64_t cli_num(const struct cli *cli, const struct cli_args *a,
                const char *name, int64_t def);

/* The values of the repeatable option NAME, in order: *N of them in
 * OUT (room for CLI_MAX_MULTI).
 */
int cli_multi(const struct cli *cli, const struct cli_args *a,
              const char *name, const char **out);

/* The service context, opened on first use; NULL after printing why. */
struct svc *cli_svc(struct cli *cli);

/* The caller the command acts as. */
const struct caller *cli_who(struct cli *cli);

/* Print "vmsnap COMMAND: message" for ERR (escaped), free it, return 1. */
int cli_fail(const struct cli *cli, struct error *err);

/* Print a usage error for the current command and return 2. */
int cli_usage(const struct cli *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Parse "key=value" (key not empty) into props (keys and values borrowed
 * from ARG copies kept in *KEEP, which the caller frees with free()).
 * Returns 0, or -1 with ERR_INVALID.
 */
int cli_parse_properties(const char *const *args, int n, struct prop *props,
                         char **keep, struct error **errp);

/* True when progress should be drawn: stderr is a terminal and not -q. */
bool cli_progress_enabled(const struct cli *cli);

/* Printing: a record VIEW (a JSON object from views.h, consumed) as a
 * show form through FORM, which converts the view into the fields the
 * command shows; a list of views (consumed) through ROW, which makes one
 * row of COLUMNS from a view.  Return the exit status.
 */
typedef struct output *(*cli_form_fn)(json_object *view);
typedef void (*cli_row_fn)(json_object *view, json_object **row);
int cli_show(struct cli *cli, json_object *view, cli_form_fn form);
int cli_list(struct cli *cli, const char *const *columns, json_object **views,
             size_t n, cli_row_fn row);

/* A member of a view (borrowed; NULL when absent), and a new reference
 * to it for an output (NULL stays NULL).
 */
json_object *cli_get(json_object *view, const char *key);
json_object *cli_take(json_object *view, const char *key);

/* An image view's properties: every member that is not one of Glance's
 * fields (a new object).
 */
json_object *cli_image_properties(json_object *view);

/* The show forms shared by several modules. */
struct output *cli_image_form(json_object *view);

#endif
