/* vmsnap: what the services reach through the context (services only:
 * front ends see svc.h).
 */
#ifndef VMSNAP_SVC_IMPL_H
#define VMSNAP_SVC_IMPL_H

#include "blob.h"
#include "catalog.h"
#include "hv.h"
#include "lock.h"
#include "svc.h"

/* The open catalog, image store and lock manager; borrowed. */
struct catalog *svc_catalog(struct svc *svc);
struct blob *svc_blob(struct svc *svc);
struct locks *svc_locks(struct svc *svc);

/* The hypervisor driver, opened on first use (so that commands that
 * never touch a server do not need libvirtd).  NULL with errp set when
 * it cannot be opened.
 */
struct hv *svc_hv(struct svc *svc, struct error **errp);

/* Use HV (taken over: closed with SVC) as the hypervisor driver, in
 * place of the configured one: the tests' fake driver.
 */
void svc_use_hv(struct svc *svc, struct hv *hv);

/* Take lock KIND/ID (lock.h), with WAIT. */
int svc_lock(struct svc *svc, const char *kind, const char *id, bool wait,
             struct lock **out, struct error **errp);

/* May WHO see a record owned by project OWNER (NULL: the default
 * project)?  Admins see everything.
 */
bool svc_may_see(const struct caller *who, const char *owner);

#endif
