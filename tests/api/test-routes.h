/* vmsnap tests: the routes of the test build of vmsnapd
 * (test-routes.c).
 */
#ifndef VMSNAP_TEST_ROUTES_H
#define VMSNAP_TEST_ROUTES_H

#include "router.h"

extern const struct route_table test_routes;

#endif
