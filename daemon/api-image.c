/* vmsnapd: stub. */
#include "apis.h"

static const struct route image_routes_[] = {
    {NULL, NULL, NULL, API_OTHER, 0, ROUTE_BODY_NONE},
};

const struct route_table image_routes = {"/image", API_IMAGE, image_routes_};
