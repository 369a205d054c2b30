/* vmsnap: the actions on servers (Nova's instance actions, what
 * "openstack server event list" shows).
 *
 * The services record one when they start work on a server (create,
 * start, stop, pause, unpause, reboot, attach_volume, detach_volume,
 * createImage, createBackup) and finish it when the work ends, with
 * "Error: why" when it failed.  An action is named by the request that
 * asked for it (the caller's request_id, "req-<uuid>" from the REST API,
 * else a new one); a snapshot's action is finished by the task that
 * makes it.  Recording is history, never a reason to refuse the work: a
 * write that fails is logged.  A server's actions go with it.
 */
#ifndef VMSNAP_ACTIONS_H
#define VMSNAP_ACTIONS_H

#include "catalog.h"
#include "error.h"
#include "svc.h"

/* Room for a request ID ("req-" and a UUID). */
#define ACTIONS_REQ_LEN 48

/* Record that WHO's request starts ACTION on server INSTANCE_ID; REQ
 * gets the request ID used (WHO->request_id, or a new one).
 */
void actions_start(struct svc *svc, const struct caller *who,
                   const char *instance_id, const char *action,
                   char req[ACTIONS_REQ_LEN]);

/* Finish the action of request REQ on server INSTANCE_ID: a success when
 * ERR is NULL, else a failure with ERR's message.
 */
void actions_finish(struct svc *svc, const char *instance_id,
                    const char *req, const struct error *err);

/* The actions on server REF, newest first (free with
 * instance_action_list_free).  REF is the ID of a server the caller found
 * for WHO (servers_find): this module does not look servers up, since
 * the servers service records their actions here.
 */
int actions_list(struct svc *svc, const struct caller *who, const char *ref,
                 struct instance_action ***out, size_t *n,
                 struct error **errp);

/* The action of request REQ on server REF (an ID, as for actions_list);
 * caller frees.  ERR_NOT_FOUND
 * "Action for request_id x on instance y not found".
 */
int actions_find(struct svc *svc, const struct caller *who, const char *ref,
                 const char *req, struct instance_action **out,
                 struct error **errp);

#endif
