/* vmsnap tests: vmsnapd built with the in-memory identity backend and
 * the test routes; otherwise the same program (daemon_main).
 */
#include "daemon.h"
#include "identity-memory.h"
#include "test-routes.h"

int
main(int argc, char **argv)
{
    static const struct route_table *const tables[] = {&test_routes, NULL};
    const struct daemon_setup setup = {
        .identity = &identity_memory_ops,
        .tables = tables,
    };

    return daemon_main(argc, argv, &setup);
}
