/* vmsnapd: stub. */
#include "apis.h"

static const struct route volume_routes_[] = {
    {NULL, NULL, NULL, API_OTHER, 0, ROUTE_BODY_NONE},
};

const struct route_table volume_routes = {"/volume", API_VOLUME, volume_routes_};
