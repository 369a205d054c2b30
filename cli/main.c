/* vmsnap: command line front end. */
#include <stdio.h>

#include "log.h"

int
main(int argc, char **argv)
{
    log_init("vmsnap");
    fprintf(stderr, "vmsnap: no command\n");
    return 2;
}
