/* vmsnapd: the route table of every API module.
 *
 * daemon.c serves the tables listed here, in this order, and then those
 * a build adds (tests/api adds its test routes).  The Glance, Nova and
 * Cinder modules come with the service layer: each is one file
 * (api-image.c, api-compute.c, api-volume.c) with one table.
 */
#ifndef VMSNAPD_APIS_H
#define VMSNAPD_APIS_H

#include "router.h"

/* Version documents of every service (api-discovery.c). */
extern const struct route_table discovery_routes;

/* Keystone v3: tokens, catalog, projects, users (api-identity.c). */
extern const struct route_table identity_routes;

#endif
