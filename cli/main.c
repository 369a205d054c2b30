/* vmsnap: command line front end (the work is cli_main's, dispatch.c).
 */
#include <signal.h>

#include "cli.h"
#include "log.h"

int
main(int argc, char **argv)
{
    log_init("vmsnap");
    /* A peer that goes away (QEMU, the agent, the thaw watchdog) is an
     * error to report, not a reason to die: writes get EPIPE instead.
     */
    signal(SIGPIPE, SIG_IGN);
    return cli_main(argc, argv, NULL);
}
