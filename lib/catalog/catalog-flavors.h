/* vmsnap: flavors in the catalog (included by catalog.h; see there for
 * the rules every catalog function follows).
 *
 * A flavor is Nova's name for a size of server: vCPUs, memory, disks.
 * Its ID is Nova's, a string the administrator chooses ("1", "42",
 * "m1.tiny-v2") or a UUID; the catalog keeps it as given.  A new catalog
 * has a few (schema version 4): m1.nano, m1.tiny, m1.small, m1.medium.
 * Servers name their flavor in their metadata; deleting a flavor leaves
 * them as they are, as in Nova.
 */
#ifndef VMSNAP_CATALOG_FLAVORS_H
#define VMSNAP_CATALOG_FLAVORS_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "model.h"

struct catalog;

/* True if ID can be a flavor's ID: 1 to 255 bytes of letters, digits,
 * '.', '-', '_' and ' ', not starting or ending with a space.
 */
bool catalog_flavor_id_valid(const char *id);

/* Add flavor F (borrowed): an ID (catalog_flavor_id_valid), a unique
 * name, vcpus and ram_mb > 0, the disks >= 0; a NULL created_at means
 * now.  Returns 0, or -1 with ERR_INVALID (bad field), ERR_CONFLICT
 * "flavor name 'x' already exists" or "flavor ID 'x' already exists" (or
 * busy) or ERR_IO.
 */
int catalog_flavor_insert(struct catalog *cat, const struct flavor *f,
                          struct error **errp);

/* Read flavor ID into *OUT (free with flavor_free).  Returns 0, or -1
 * with ERR_NOT_FOUND "no flavor with ID 'x'", ERR_CONFLICT (busy) or
 * ERR_IO.
 */
int catalog_flavor_get(struct catalog *cat, const char *id,
                       struct flavor **out, struct error **errp);

/* Look a flavor up by ID first, else by name.  Returns 0, or -1 with
 * ERR_NOT_FOUND "no flavor named or with ID 'x'", ERR_CONFLICT (busy) or
 * ERR_IO.
 */
int catalog_flavor_find(struct catalog *cat, const char *id_or_name,
                        struct flavor **out, struct error **errp);

/* List every flavor, by memory, then vCPUs, then ID (free with
 * flavor_list_free).  Returns 0, or -1 with ERR_CONFLICT (busy) or
 * ERR_IO.
 */
int catalog_flavor_list(struct catalog *cat, struct flavor ***out,
                        size_t *n, struct error **errp);

/* Remove flavor ID.  Returns 0, or -1 with ERR_NOT_FOUND, ERR_CONFLICT
 * (busy) or ERR_IO.
 */
int catalog_flavor_delete(struct catalog *cat, const char *id,
                          struct error **errp);

#endif
