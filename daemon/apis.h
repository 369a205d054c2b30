/* vmsnapd: the route table of every API module.
 *
 * daemon.c serves the tables listed here, in this order, and then those
 * a build adds (tests/api adds its test routes).  The Glance, Nova and
 * Cinder modules call the services (lib/services) through a context of
 * the daemon's pool (api_svc): each is one file with one table.
 */
#ifndef VMSNAPD_APIS_H
#define VMSNAPD_APIS_H

#include "router.h"

/* Version documents of every service (api-discovery.c). */
extern const struct route_table discovery_routes;

/* Keystone v3: tokens, catalog, projects, users (api-identity.c). */
extern const struct route_table identity_routes;

/* Glance v2: images, their data, tags (api-image.c,
 * api-image-delete.c).
 */
extern const struct route_table image_routes;

/* Glance v2's schemas (api-image-schema.c); served before image_routes,
 * whose prefix is shorter.
 */
extern const struct route_table image_schema_routes;

/* Nova v2.1: servers, their actions and volume attachments, instance
 * actions (api-compute.c).
 */
extern const struct route_table compute_routes;

/* Nova v2.1's flavors (api-flavor.c); served before compute_routes,
 * whose prefix is shorter.
 */
extern const struct route_table flavor_routes;

/* Cinder v3: volumes and volume snapshots (api-volume.c). */
extern const struct route_table volume_routes;

#endif
