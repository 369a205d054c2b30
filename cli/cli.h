/* vmsnap command line: what the command modules share.
 *
 * main.c strips the global options (anywhere on the line), finds the
 * command by its words ("server image create") in the command table and
 * calls its handler with the remaining arguments.  Handlers return an exit
 * status: 0 success, 1 failure (an error already printed), 2 bad usage.
 */
#ifndef VMSNAP_CLI_H
#define VMSNAP_CLI_H

#include <getopt.h>
#include <stdbool.h>

#include <json-c/json.h>

#include "error.h"
#include "output.h"
#include "store.h"

#define CLI_MAX_COLUMNS 32

struct cli {
    const char *data_dir;              /* --data-dir, or NULL */
    enum output_format format;         /* -f */
    const char *columns[CLI_MAX_COLUMNS + 1]; /* -c, NULL-terminated */
    bool quiet;                        /* -q: no progress output */
    const char *command;               /* the command words, for messages */
    struct store *store;               /* opened on first cli_store () */
};

struct cli_command {
    const char *words;                 /* "image create" */
    int (*run)(struct cli *cli, int argc, char **argv);
    const char *usage;                 /* arguments, shown by --help */
    const char *summary;               /* one line */
};

/* The command tables of each module, terminated by a NULL words entry. */
extern const struct cli_command cli_image_commands[];
extern const struct cli_command cli_server_commands[];
extern const struct cli_command cli_agent_commands[];
extern const struct cli_command cli_volume_commands[];

/* The open data directory; on failure print the error and return NULL. */
struct store *cli_store(struct cli *cli);

/* getopt_long over ARGV with option string SHORTOPTS and OPTS; wraps the
 * reset of getopt's state so each handler starts afresh.  Call it once
 * with RESET true, then with RESET false until it returns -1.
 */
int cli_getopt(int argc, char **argv, const char *shortopts,
               const struct option *opts, bool reset);

/* Print "vmsnap COMMAND: message" for ERR, free it and return 1. */
int cli_fail(const struct cli *cli, struct error *err);

/* Print a usage error for the current command and return 2. */
int cli_usage(const struct cli *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Parse "key=value" (key not empty).  On success *key and *value are new
 * strings the caller frees.
 */
int cli_parse_property(const char *arg, char **key, char **value,
                       struct error **errp);

/* Print OUT in the format and columns the user chose; return the exit
 * status.  Frees OUT.
 */
int cli_print(struct cli *cli, struct output *out);

/* The show form of IMG (fields sorted by name, as openstack shows them);
 * NULL when out of memory.
 */
struct output *cli_image_output(const struct image *img);

/* Find SERVER by name or ID; print the error and return NULL if none.
 * Caller frees with instance_free.
 */
struct instance *cli_find_server(struct cli *cli, const char *ref);

/* A JSON string of S, or NULL (JSON null) when S is NULL. */
json_object *cli_json_str(const char *s);

/* A JSON object of the N key/value pairs PROPS (properties, metadata). */
json_object *cli_json_props(const struct prop *props, size_t n);

/* Parse the arguments of a command that takes only --help and NARGS
 * positional arguments (then at argv[optind]...).  Returns -1 when the
 * caller should go on, else the exit status to return (help printed, or a
 * usage error).
 */
int cli_positional(struct cli *cli, int argc, char **argv, int nargs,
                   const char *usage);

/* Check the -c columns against KNOWN (NULL-terminated) before a command
 * acts, so that a typo does not come out as a failure after the work is
 * done.  Returns -1 when they are fine, else the usage exit status.
 */
int cli_check_columns(const struct cli *cli, const char *const *known);

/* The fields of the show forms of images and servers. */
extern const char *const cli_image_fields[];
extern const char *const cli_server_fields[];

/* True when progress should be drawn: stderr is a terminal and not -q. */
bool cli_progress_enabled(const struct cli *cli);

#endif
