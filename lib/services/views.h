/* vmsnap: the JSON form of every record, in one place.
 *
 * An image is shown as Glance v2 shows it, a server as Nova v2.1, a
 * volume and a volume snapshot as Cinder v3, so that the REST API's
 * bodies and the command's -f json come from the same code; the command
 * then formats them as the openstack client does (properties grouped,
 * columns picked).  vmsnap's own additions carry a "vmsnap:" prefix where
 * the OpenStack shape has no field for them.
 *
 * Every function returns a new object (caller puts) and cannot fail.
 */
#ifndef VMSNAP_VIEWS_H
#define VMSNAP_VIEWS_H

#include <json-c/json.h>

#include "catalog.h"
#include "hv.h"

/* Glance v2: the fields, then every property at the top level, the
 * block_device_mapping as the JSON string Nova puts there, and
 * "fail_reason" for a killed image.  LOCAL_PATH (may be NULL) is the
 * data's local file, shown as "file" to local admins instead of Glance's
 * download URL.
 */
json_object *view_image(const struct image *img, const char *local_path);

/* Nova v2.1, with the state ST from the hypervisor; "vmsnap:managed" is
 * false for a server vmsnap adopted rather than created (servers.h).
 */
json_object *view_server(const struct instance *inst,
                         const struct hv_state *st);

/* Cinder v3, with the local file of the data as "vmsnap:file" (VOL's
 * file; LOCAL_PATH for a snapshot, may be NULL).
 */
json_object *view_volume(const struct volume *vol);
json_object *view_volume_snapshot(const struct volume_snapshot *vs,
                                  const char *local_path);

/* A task: id, kind, target, state, phase, progress, warnings (an array),
 * error, result, timestamps.
 */
json_object *view_task(const struct task *t);

#endif
