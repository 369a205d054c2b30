/* vmsnap: the actions on servers (see actions.h). */
#include <stdio.h>
#include <string.h>

#include "actions.h"
#include "cleanup.h"
#include "log.h"
#include "svc.h"
#include "util.h"
#include "xalloc.h"

void
actions_start(struct svc *svc, const struct caller *who,
              const char *instance_id, const char *action,
              char req[ACTIONS_REQ_LEN])
{
    struct instance_action a = {0};
    struct error *err = NULL;

    if (who && who->request_id && *who->request_id &&
        strlen(who->request_id) < ACTIONS_REQ_LEN) {
        snprintf(req, ACTIONS_REQ_LEN, "%s", who->request_id);
    } else {
        char uuid[UTIL_UUID_LEN];

        util_uuid_new(uuid);
        snprintf(req, ACTIONS_REQ_LEN, "req-%s", uuid);
    }
    a.request_id = req;
    a.instance_id = (char *)instance_id;
    a.action = (char *)action;
    a.project_id = who ? (char *)who->project_id : NULL;
    a.user_id = who ? (char *)who->user_id : NULL;
    if (catalog_instance_action_start(svc_catalog(svc), &a, &err) < 0) {
        log_warnx("server %s: action %s of %s not recorded: %s", instance_id,
                  action, req, error_msg(err));
        error_free(err);
    }
}

void
actions_finish(struct svc *svc, const char *instance_id, const char *req,
               const struct error *err)
{
    CLEANUP_FREE char *msg = err ? xasprintf("Error: %s", error_msg(err))
                                 : NULL;
    struct error *local = NULL;

    if (req == NULL || *req == '\0') {
        return;
    }
    if (catalog_instance_action_finish(svc_catalog(svc), instance_id, req,
                                       msg, &local) < 0) {
        /* The server may be gone with its actions: nothing to record. */
        if (error_get_class(local) != ERR_NOT_FOUND) {
            log_warnx("server %s: the end of action %s not recorded: %s",
                      instance_id, req, error_msg(local));
        }
        error_free(local);
    }
}

int
actions_list(struct svc *svc, const struct caller *who, const char *ref,
             struct instance_action ***out, size_t *n, struct error **errp)
{
    return catalog_instance_action_list(svc_catalog(svc), ref, out, n,
                                        errp);
}

int
actions_find(struct svc *svc, const struct caller *who, const char *ref,
             const char *req, struct instance_action **out,
             struct error **errp)
{
    struct instance_action **list = NULL;
    size_t n = 0, i;
    int r = -1;

    if (actions_list(svc, who, ref, &list, &n, errp) < 0) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (strcmp(list[i]->request_id, req) == 0) {
            *out = list[i];
            list[i] = NULL;
            r = 0;
            break;
        }
    }
    if (r < 0) {
        error_setg(errp, ERR_NOT_FOUND,
                   "Action for request_id %s on instance %s not found", req,
                   ref);
    }
    instance_action_list_free(list, n);
    return r;
}
