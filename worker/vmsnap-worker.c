/* vmsnap-worker: runs one task (task.h) in the background of whoever
 * asked for it.
 *
 *   vmsnap-worker [--data-dir DIR] [--config FILE] TASK_ID
 *
 * Started by fork+exec from the vmsnap command (--no-wait) or the
 * daemon, in a session of its own, with its stderr in the data
 * directory's logs/task-ID.log.  It runs the task and exits: 0 when the
 * task succeeded, 1 when it failed (the reason is in the task), 2 on bad
 * usage.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>

#include "config.h"
#include "error.h"
#include "log.h"
#include "svc.h"
#include "runner.h"
#include "task.h"

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'c'},
        {0},
    };
    const char *data_dir = NULL, *file = NULL;
    struct config *cfg;
    struct svc *svc;
    struct error *err = NULL;
    int c, r;

    log_init("vmsnap-worker");
    /* A peer that goes away (QEMU, the agent) is an error to report,
     * not a reason to die.
     */
    signal(SIGPIPE, SIG_IGN);
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'd') {
            data_dir = optarg;
        } else if (c == 'c') {
            file = optarg;
        } else {
            return 2;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "usage: vmsnap-worker [--data-dir DIR] "
                        "[--config FILE] TASK_ID\n");
        return 2;
    }
    cfg = config_load(file, &err);
    if (cfg && data_dir && config_set(cfg, "data_dir", data_dir, &err) < 0) {
        config_free(cfg);
        cfg = NULL;
    }
    if (cfg == NULL) {
        error_report("vmsnap-worker", err);
        return 2;
    }
    log_set_debug(cfg->debug);
    svc = svc_open(cfg, &err);
    if (svc == NULL) {
        error_report("vmsnap-worker", err);
        config_free(cfg);
        return 1;
    }
    r = runner_run(svc, argv[optind], TASK_BACKGROUND, NULL, &err);
    if (r < 0) {
        error_report("vmsnap-worker", err);
    }
    svc_close(svc);
    config_free(cfg);
    return r < 0 ? 1 : 0;
}
