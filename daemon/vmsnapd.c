/* vmsnapd: the OpenStack-compatible REST daemon (see daemon.h). */
#include "daemon.h"

int
main(int argc, char **argv)
{
    const struct daemon_setup setup = {
        .identity = &identity_catalog_ops,
        .tables = NULL,
    };

    return daemon_main(argc, argv, &setup);
}
