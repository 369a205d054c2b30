/* vmsnap command line: "agent ..." commands: the guest agent of a
 * server, by hand (seed 002: guest-ping, freeze and thaw by hand).
 */
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "cli.h"
#include "servers.h"
#include "xjson.h"

#define AGENT_TIMEOUT_MS 10000

static const struct cli_opt agent_opts[] = {
    {"timeout", CLI_INT, "S", "seconds to wait for the agent (default 10; "
                              "exec: 60)", 1, 86400},
    {NULL, 0, NULL, NULL, 0, 0},
};

static int
cli_agent_ping(struct cli *cli, const struct cli_args *a)
{
    int timeout = (int)cli_num(cli, a, "timeout", 10) * 1000;
    struct error *err = NULL;
    struct agent *ag;
    int r = -1;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    ag = servers_agent(cli->svc, cli_who(cli), a->pos[0], timeout, &err);
    if (ag) {
        r = agent_ping(ag, timeout, &err);
    }
    agent_close(ag);
    return r < 0 ? cli_fail(cli, err) : 0;
}

static int
cli_agent_command(struct cli *cli, const struct cli_args *a)
{
    int timeout = (int)cli_num(cli, a, "timeout", 10) * 1000;
    CLEANUP_JSON_PUT json_object *ret = NULL;
    CLEANUP_JSON_PUT json_object *reply = NULL;
    struct error *err = NULL;
    struct agent *ag;

    if (cli_svc(cli) == NULL) {
        return 1;
    }
    ag = servers_agent(cli->svc, cli_who(cli), a->pos[0], timeout, &err);
    if (ag) {
        ret = agent_command(ag, a->pos[1], timeout, &err);
    }
    agent_close(ag);
    if (ret == NULL) {
        return cli_fail(cli, err);
    }
    reply = xjson_object();
    json_object_object_add(reply, "return", json_object_get(ret));
    printf("%s\n",
           json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN));
    return 0;
}

/* Run a program in the guest and relay its output and exit status. */
static int
cli_agent_exec(struct cli *cli, const struct cli_args *a)
{
    int timeout = (int)cli_num(cli, a, "timeout", 60) * 1000;
    struct agent_exec_result res = {0};
    struct error *err = NULL;
    struct agent *ag;
    int r = -1;

    if (a->npos < 2) {
        return cli_usage(cli, "expected SERVER and a PROGRAM");
    }
    if (cli_svc(cli) == NULL) {
        return 1;
    }
    ag = servers_agent(cli->svc, cli_who(cli), a->pos[0], AGENT_TIMEOUT_MS,
                       &err);
    if (ag) {
        r = agent_exec(ag, a->pos[1], a->pos + 2, NULL, timeout, &res, &err);
    }
    agent_close(ag);
    if (r < 0) {
        return cli_fail(cli, err);
    }
    fwrite(res.out, 1, res.out_len, stdout);
    fwrite(res.err, 1, res.err_len, stderr);
    r = res.exitcode >= 0 ? res.exitcode : 128 + res.signal;
    agent_exec_result_clear(&res);
    return r;
}

const struct cli_command cli_agent_commands[] = {
    {"agent exec", cli_agent_exec, "SERVER [--] PROGRAM [ARGS]...", 2, -1,
     agent_opts, NULL,
     "run a program in the guest, relay its output and exit status",
     "Options go before SERVER: everything after it is the program's.",
     true},
    {"agent ping", cli_agent_ping, "SERVER", 1, 1, agent_opts, NULL,
     "ping a server's guest agent", NULL, false},
    {"agent command", cli_agent_command, "SERVER JSON", 2, 2, agent_opts, NULL,
     "run a guest agent command, e.g. '{\"execute\":\"guest-info\"}'", NULL,
     false},
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, false},
};
