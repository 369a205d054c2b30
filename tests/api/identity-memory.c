/* vmsnap tests: an identity backend in memory (see identity-memory.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "identity-memory.h"
#include "password.h"
#include "util.h"

#define MEM_MAX 64

struct mem_user {
    char id[33];   /* 32 hex digits */
    char name[64]; /* its name */
    char *hash;    /* password hash */
};

struct mem_project {
    char id[33];   /* 32 hex digits */
    char name[64]; /* its name */
};

struct mem_role {
    size_t user, project; /* indexes */
    unsigned roles;       /* IDENTITY_ROLE_* */
};

struct mem {
    pthread_mutex_t lock;           /* guards everything below */
    struct mem_user users[MEM_MAX]; /* users */
    size_t nusers;
    struct mem_project projects[MEM_MAX]; /* projects */
    size_t nprojects;
    struct mem_role roles[MEM_MAX]; /* assignments */
    size_t nroles;
    struct identity_token *tokens; /* tokens by hash */
    size_t ntokens, cap;
};

static void
mem_new_id(char out[33])
{
    char uuid[UTIL_UUID_LEN];
    size_t i, o = 0;

    util_uuid_new(uuid);
    for (i = 0; uuid[i]; i++) {
        if (uuid[i] != '-') {
            out[o++] = uuid[i];
        }
    }
    out[o] = '\0';
}

static ssize_t
mem_find_user(struct mem *m, const char *name)
{
    size_t i;

    for (i = 0; i < m->nusers; i++) {
        if (strcmp(m->users[i].name, name) == 0) {
            return (ssize_t)i;
        }
    }
    return -1;
}

static ssize_t
mem_find_project(struct mem *m, const char *name)
{
    size_t i;

    for (i = 0; i < m->nprojects; i++) {
        if (strcmp(m->projects[i].name, name) == 0) {
            return (ssize_t)i;
        }
    }
    return -1;
}

static void
mem_free(struct mem *m)
{
    size_t i;

    for (i = 0; i < m->nusers; i++) {
        free(m->users[i].hash);
    }
    free(m->tokens);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* Add one line "USER PASSWORD PROJECT ROLE". */
static int
mem_add(struct mem *m, const char *user, const char *password,
        const char *project, const char *role, struct error **errp)
{
    ssize_t u = mem_find_user(m, user), p = mem_find_project(m, project);
    unsigned bits = strcmp(role, "admin") == 0    ? IDENTITY_ROLE_ADMIN
                    : strcmp(role, "member") == 0 ? IDENTITY_ROLE_MEMBER
                                                  : 0;

    if (bits == 0 || strlen(user) >= 64 || strlen(project) >= 64) {
        error_setg(errp, ERR_INVALID, "bad identity line for %s", user);
        return -1;
    }
    if (u < 0) {
        if (m->nusers >= MEM_MAX) {
            error_setg(errp, ERR_INVALID, "too many users");
            return -1;
        }
        u = (ssize_t)m->nusers;
        mem_new_id(m->users[u].id);
        snprintf(m->users[u].name, sizeof(m->users[u].name), "%s", user);
        m->users[u].hash = password_hash(password, 0, errp);
        if (m->users[u].hash == NULL) {
            return -1;
        }
        m->nusers++;
    }
    if (p < 0) {
        if (m->nprojects >= MEM_MAX) {
            error_setg(errp, ERR_INVALID, "too many projects");
            return -1;
        }
        p = (ssize_t)m->nprojects++;
        mem_new_id(m->projects[p].id);
        snprintf(m->projects[p].name, sizeof(m->projects[p].name), "%s",
                 project);
    }
    if (m->nroles >= MEM_MAX) {
        error_setg(errp, ERR_INVALID, "too many roles");
        return -1;
    }
    m->roles[m->nroles].user = (size_t)u;
    m->roles[m->nroles].project = (size_t)p;
    m->roles[m->nroles].roles = bits;
    m->nroles++;
    return 0;
}

static int
mem_open(const struct identity_open_args *args, void **priv,
         struct error **errp)
{
    CLEANUP_FREE char *path = NULL;
    struct mem *m;
    char line[512];
    FILE *fp;

    if (args->data_dir == NULL) {
        error_setg(errp, ERR_INVALID, "the memory backend needs --data-dir");
        return -1;
    }
    path = util_path_join(args->data_dir, "identity");
    m = calloc(1, sizeof(*m));
    if (path == NULL || m == NULL) {
        free(m);
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    pthread_mutex_init(&m->lock, NULL);
    fp = fopen(path, "re");
    if (fp == NULL) {
        error_setg(errp, ERR_NOT_FOUND, "cannot open %s", path);
        mem_free(m);
        return -1;
    }
    while (fgets(line, sizeof(line), fp)) {
        char user[128], password[256], project[128], role[32];

        if (line[0] == '#' || line[0] == '\n') {
            continue;
        }
        if (sscanf(line, "%127s %255s %127s %31s", user, password, project,
                   role) != 4) {
            error_setg(errp, ERR_INVALID, "%s: bad line: %s", path, line);
            fclose(fp);
            mem_free(m);
            return -1;
        }
        if (mem_add(m, user, password, project, role, errp) < 0) {
            fclose(fp);
            mem_free(m);
            return -1;
        }
    }
    fclose(fp);
    *priv = m;
    return 0;
}

static void
mem_close(void *priv)
{
    mem_free(priv);
}

/* Is REF's domain the default one (or absent when named by id)? */
static bool
mem_domain_ok(const struct identity_ref *ref)
{
    if (ref->domain_id && strcmp(ref->domain_id, IDENTITY_DOMAIN_ID) != 0) {
        return false;
    }
    if (ref->domain_name &&
        strcmp(ref->domain_name, IDENTITY_DOMAIN_NAME) != 0) {
        return false;
    }
    return true;
}

static int
mem_authenticate(void *priv, const struct identity_ref *user,
                 const char *password, struct identity_principal *who,
                 struct error **errp)
{
    struct mem *m = priv;
    ssize_t u = -1;
    size_t i;
    int ok;

    pthread_mutex_lock(&m->lock);
    if (mem_domain_ok(user)) {
        for (i = 0; i < m->nusers && u < 0; i++) {
            if ((user->id && strcmp(user->id, m->users[i].id) == 0) ||
                (!user->id && user->name &&
                 strcmp(user->name, m->users[i].name) == 0)) {
                u = (ssize_t)i;
            }
        }
    }
    pthread_mutex_unlock(&m->lock);
    if (u < 0) {
        password_verify_none(password);
        error_setg(errp, ERR_NOT_FOUND, "invalid user or password");
        return -1;
    }
    /* Users are never removed, so the hash stays valid unlocked. */
    ok = password_verify(password, m->users[u].hash, NULL);
    if (ok != 1) {
        error_setg(errp, ERR_NOT_FOUND, "invalid user or password");
        return -1;
    }
    identity_copy(who->user_id, sizeof(who->user_id), m->users[u].id);
    identity_copy(who->user_name, sizeof(who->user_name), m->users[u].name);
    return 0;
}

/* Roles of user id USER on project index P; with the lock held. */
static unsigned
mem_roles_locked(struct mem *m, const char *user, size_t p)
{
    unsigned bits = 0;
    size_t i;

    for (i = 0; i < m->nroles; i++) {
        if (m->roles[i].project == p &&
            strcmp(m->users[m->roles[i].user].id, user) == 0) {
            bits |= m->roles[i].roles;
        }
    }
    return bits;
}

static int
mem_scope(void *priv, const struct identity_ref *project,
          struct identity_principal *who, struct error **errp)
{
    struct mem *m = priv;
    unsigned bits = 0;
    size_t i;

    pthread_mutex_lock(&m->lock);
    for (i = 0; i < m->nprojects && mem_domain_ok(project); i++) {
        if ((project->id && strcmp(project->id, m->projects[i].id) == 0) ||
            (!project->id && project->name &&
             strcmp(project->name, m->projects[i].name) == 0)) {
            bits = mem_roles_locked(m, who->user_id, i);
            break;
        }
    }
    if (bits) {
        identity_copy(who->project_id, sizeof(who->project_id),
                      m->projects[i].id);
        identity_copy(who->project_name, sizeof(who->project_name),
                      m->projects[i].name);
        who->roles = bits;
    }
    pthread_mutex_unlock(&m->lock);
    if (bits == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no such project for this user");
        return -1;
    }
    return 0;
}

static int
mem_token_add(void *priv, const struct identity_token *tok, struct error **errp)
{
    struct mem *m = priv;
    int rc = 0;

    pthread_mutex_lock(&m->lock);
    if (m->ntokens == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct identity_token *t = realloc(m->tokens, cap * sizeof(*t));

        if (t == NULL) {
            error_setg(errp, ERR_IO, "out of memory");
            rc = -1;
        } else {
            m->tokens = t;
            m->cap = cap;
        }
    }
    if (rc == 0) {
        m->tokens[m->ntokens++] = *tok;
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int
mem_token_get(void *priv, const char *hash, struct identity_token *out,
              struct error **errp)
{
    struct mem *m = priv;
    size_t i;
    int rc = -1;

    pthread_mutex_lock(&m->lock);
    for (i = 0; i < m->ntokens; i++) {
        if (strcmp(m->tokens[i].hash, hash) == 0) {
            *out = m->tokens[i];
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&m->lock);
    if (rc < 0) {
        error_setg(errp, ERR_NOT_FOUND, "unknown token");
    }
    return rc;
}

static int
mem_token_revoke(void *priv, const char *hash, struct error **errp)
{
    struct mem *m = priv;
    size_t i;
    int rc = -1;

    pthread_mutex_lock(&m->lock);
    for (i = 0; i < m->ntokens; i++) {
        if (strcmp(m->tokens[i].hash, hash) == 0) {
            m->tokens[i] = m->tokens[--m->ntokens];
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&m->lock);
    if (rc < 0) {
        error_setg(errp, ERR_NOT_FOUND, "unknown token");
    }
    return rc;
}

static int
mem_cmp_project(const void *a, const void *b)
{
    return strcmp(((const struct identity_project *)a)->name,
                  ((const struct identity_project *)b)->name);
}

static int
mem_list_projects(void *priv, const char *user_id,
                  struct identity_project **out, size_t *n, struct error **errp)
{
    struct mem *m = priv;
    struct identity_project *list = calloc(MEM_MAX, sizeof(*list));
    size_t i, k = 0;

    if (list == NULL) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    pthread_mutex_lock(&m->lock);
    for (i = 0; i < m->nprojects; i++) {
        if (user_id && mem_roles_locked(m, user_id, i) == 0) {
            continue;
        }
        identity_copy(list[k].id, sizeof(list[k].id), m->projects[i].id);
        identity_copy(list[k].name, sizeof(list[k].name), m->projects[i].name);
        list[k].enabled = true;
        k++;
    }
    pthread_mutex_unlock(&m->lock);
    qsort(list, k, sizeof(*list), mem_cmp_project);
    *out = list;
    *n = k;
    return 0;
}

static int
mem_cmp_user(const void *a, const void *b)
{
    return strcmp(((const struct identity_user *)a)->name,
                  ((const struct identity_user *)b)->name);
}

static int
mem_list_users(void *priv, struct identity_user **out, size_t *n,
               struct error **errp)
{
    struct mem *m = priv;
    struct identity_user *list = calloc(MEM_MAX, sizeof(*list));
    size_t i;

    if (list == NULL) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    pthread_mutex_lock(&m->lock);
    for (i = 0; i < m->nusers; i++) {
        identity_copy(list[i].id, sizeof(list[i].id), m->users[i].id);
        identity_copy(list[i].name, sizeof(list[i].name), m->users[i].name);
        list[i].enabled = true;
    }
    *n = m->nusers;
    pthread_mutex_unlock(&m->lock);
    qsort(list, *n, sizeof(*list), mem_cmp_user);
    *out = list;
    return 0;
}

const struct identity_ops identity_memory_ops = {
    .version = IDENTITY_OPS_VERSION,
    .name = "memory",
    .open = mem_open,
    .close = mem_close,
    .authenticate = mem_authenticate,
    .scope = mem_scope,
    .token_add = mem_token_add,
    .token_get = mem_token_get,
    .token_revoke = mem_token_revoke,
    .list_projects = mem_list_projects,
    .list_users = mem_list_users,
};
