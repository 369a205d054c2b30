/* vmsnapd: stub. */
#include "apis.h"

static const struct route compute_routes_[] = {
    {NULL, NULL, NULL, API_OTHER, 0, ROUTE_BODY_NONE},
};

const struct route_table compute_routes = {"/compute", API_COMPUTE, compute_routes_};
