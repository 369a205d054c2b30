/* vmsnap command line: "agent ..." commands, talking to the QEMU guest
 * agent inside an instance (as virsh qemu-agent-command does).
 */
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "cli.h"
#include "compute.h"
#include "util.h"

#define AGENT_TIMEOUT_MS 10000

static int
agent_ping(struct cli *cli, int argc, char **argv)
{
    struct instance *inst;
    struct error *err = NULL;
    struct qga *g;
    int r;

    if (argc != 2 || argv[1][0] == '-') {
        return cli_usage(cli, "expected one SERVER");
    }
    inst = cli_find_server(cli, argv[1]);
    if (inst == NULL) {
        return 1;
    }
    g = compute_qga(cli->store, inst, AGENT_TIMEOUT_MS, &err);
    r = g ? qga_ping(g, AGENT_TIMEOUT_MS, &err) : -1;
    qga_close(g);
    if (r < 0) {
        error_prepend(&err, "%s: ", inst->name);
        instance_free(inst);
        return cli_fail(cli, err);
    }
    printf("%s: guest agent is alive\n", inst->name);
    instance_free(inst);
    return 0;
}

static int
agent_command(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    CLEANUP_JSON_PUT json_object *req = NULL;
    CLEANUP_JSON_PUT json_object *ret = NULL;
    json_object *exec = NULL, *args = NULL;
    struct instance *inst;
    struct error *err = NULL;
    struct qga *g;
    int64_t timeout_s = 10;
    int c;

    for (c = cli_getopt(argc, argv, "", opts, true); c != -1;
         c = cli_getopt(argc, argv, "", opts, false)) {
        if (c == 't') {
            if (util_parse_int64(optarg, &timeout_s, NULL) < 0 ||
                timeout_s <= 0 || timeout_s > 3600) {
                return cli_usage(cli, "bad --timeout '%s'", optarg);
            }
        } else if (c == 'h') {
            printf("usage: vmsnap agent command [--timeout S] SERVER "
                   "'{\"execute\":\"guest-info\"}'\n");
            return 0;
        } else {
            return 2;
        }
    }
    if (optind + 2 != argc) {
        return cli_usage(cli, "expected SERVER and a JSON command");
    }
    req = json_tokener_parse(argv[optind + 1]);
    if (req == NULL || !json_object_is_type(req, json_type_object) ||
        !json_object_object_get_ex(req, "execute", &exec) ||
        !json_object_is_type(exec, json_type_string)) {
        return cli_usage(cli, "the command must be a JSON object with "
                              "\"execute\" (and optional \"arguments\")");
    }
    if (json_object_object_get_ex(req, "arguments", &args) &&
        !json_object_is_type(args, json_type_object)) {
        return cli_usage(cli, "\"arguments\" must be a JSON object");
    }
    inst = cli_find_server(cli, argv[optind]);
    if (inst == NULL) {
        return 1;
    }
    g = compute_qga(cli->store, inst, (int)timeout_s * 1000, &err);
    if (g) {
        ret = qga_execute(g, json_object_get_string(exec), args,
                          (int)timeout_s * 1000, &err);
    }
    qga_close(g);
    instance_free(inst);
    if (ret == NULL) {
        return cli_fail(cli, err);
    }
    {
        CLEANUP_JSON_PUT json_object *reply = json_object_new_object();

        json_object_object_add(reply, "return", json_object_get(ret));
        printf("%s\n", json_object_to_json_string_ext(
                           reply, JSON_C_TO_STRING_PLAIN));
    }
    return 0;
}

/* Run a program in the guest and relay its output and exit status. */
static int
agent_exec(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct qga_exec_result res = {0};
    struct instance *inst;
    struct error *err = NULL;
    struct qga *g;
    int64_t timeout_s = 60;
    int c, r = -1;

    /* "+" stops at the first non-option: the guest command's own options
     * are not ours.
     */
    for (c = cli_getopt(argc, argv, "+", opts, true); c != -1;
         c = cli_getopt(argc, argv, "+", opts, false)) {
        if (c == 't') {
            if (util_parse_int64(optarg, &timeout_s, NULL) < 0 ||
                timeout_s <= 0 || timeout_s > 86400) {
                return cli_usage(cli, "bad --timeout '%s'", optarg);
            }
        } else if (c == 'h') {
            printf("usage: vmsnap agent exec [--timeout S] SERVER -- "
                   "PROGRAM [ARGS]...\n");
            return 0;
        } else {
            return 2;
        }
    }
    if (optind < argc && strcmp(argv[optind], "--") == 0) {
        optind++;
    }
    if (optind + 2 > argc) {
        return cli_usage(cli, "expected SERVER and a PROGRAM");
    }
    inst = cli_find_server(cli, argv[optind]);
    if (inst == NULL) {
        return 1;
    }
    if (optind + 2 < argc && strcmp(argv[optind + 1], "--") == 0) {
        optind++;
    }
    g = compute_qga(cli->store, inst, 10000, &err);
    if (g) {
        r = qga_exec(g, argv[optind + 1],
                     (const char *const *)argv + optind + 2, NULL,
                     (int)timeout_s * 1000, &res, &err);
    }
    qga_close(g);
    instance_free(inst);
    if (r < 0) {
        return cli_fail(cli, err);
    }
    fwrite(res.out, 1, res.out_len, stdout);
    fwrite(res.err, 1, res.err_len, stderr);
    r = res.exitcode >= 0 ? res.exitcode : 128 + res.signal;
    qga_exec_result_clear(&res);
    return r;
}

const struct cli_command cli_agent_commands[] = {
    {"agent exec", agent_exec, "SERVER -- PROGRAM [ARGS]",
     "run a program in the guest, relay its output and exit status"},
    {"agent ping", agent_ping, "SERVER", "ping an instance's guest agent"},
    {"agent command", agent_command, "SERVER JSON",
     "run a guest agent command"},
    {NULL, NULL, NULL, NULL},
};
