/* vmsnap: flavors, Nova's sizes of servers.
 *
 * Everybody lists and reads them; administrators create and delete them.
 * A server made from a flavor gets its vCPUs and memory (servers.h) and
 * records its ID; its root disk stays the qcow2 overlay on its image,
 * whatever the flavor's disk (which only checks the image's min_disk).
 * A flavor that is not public is listed to administrators only.
 */
#ifndef VMSNAP_FLAVORS_H
#define VMSNAP_FLAVORS_H

#include <stdbool.h>

#include "catalog.h"
#include "error.h"
#include "svc.h"

/* The flavors WHO may use, smallest first (free with flavor_list_free). */
int flavors_list(struct svc *svc, const struct caller *who,
                 struct flavor ***out, size_t *n, struct error **errp);

/* Flavor ID (by ID only, as Nova's GET /flavors/{id}); caller frees.
 * ERR_NOT_FOUND "Flavor x could not be found.".
 */
int flavors_get(struct svc *svc, const struct caller *who, const char *id,
                struct flavor **out, struct error **errp);

/* Flavor REF, by ID, else by name; caller frees. */
int flavors_find(struct svc *svc, const struct caller *who, const char *ref,
                 struct flavor **out, struct error **errp);

/* Create flavor SPEC (an administrator only: ERR_INVALID otherwise); a
 * NULL SPEC->id gets a new UUID.  *OUT (caller frees, may be NULL) is
 * the new record.  ERR_CONFLICT when the ID or name is taken.
 */
int flavors_create(struct svc *svc, const struct caller *who,
                   const struct flavor *spec, struct flavor **out,
                   struct error **errp);

/* Delete flavor ID (an administrator only).  Servers made from it keep
 * their size.
 */
int flavors_delete(struct svc *svc, const struct caller *who, const char *id,
                   struct error **errp);

#endif
