/* vmsnap: the libvirt hypervisor driver: connection, errors, domains,
 * disks (see hv-libvirt.h; the domain XML is in hv-libvirt-xml.c, backups
 * in hv-libvirt-backup.c, the agent in agent-libvirt.c).
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "cleanup.h"
#include "hv-libvirt-priv.h"
#include "hv-libvirt.h"
#include "log.h"
#include "sock.h"
#include "util.h"
#include "xalloc.h"

#define LV_DEFAULT_URI "qemu:///system"
#define LV_POLL_MS 200          /* state polling while waiting */
#define LV_DETACH_TIMEOUT_MS 60000 /* a guest letting go of a disk */

/* Undefining removes libvirt's own records of the domain with it. */
#define LV_UNDEFINE_FLAGS                                                     \
    (VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |                                       \
     VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |                                 \
     VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | VIR_DOMAIN_UNDEFINE_NVRAM)

/* ------------------------------------------------------------------ */
/* Errors and the connection                                           */
/* ------------------------------------------------------------------ */

static pthread_once_t lv_once = PTHREAD_ONCE_INIT;

/* libvirt prints every error on stderr unless told otherwise; we report
 * them through struct error instead.
 */
static void
lv_silent(void *opaque, virErrorPtr err)
{
}

/* A call on a connection whose libvirtd went away writes to a closed
 * socket: without this, SIGPIPE would kill the process (perhaps while a
 * guest is frozen).  libvirt asks its users to ignore SIGPIPE; vmsnap's
 * front ends do already, this covers any other caller.
 */
static void
lv_init_once(void)
{
    struct sigaction sa;

    virInitialize();
    virSetErrorFunc(NULL, lv_silent);
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        signal(SIGPIPE, SIG_IGN);
    }
}

int
lv_last_code(void)
{
    virErrorPtr e = virGetLastError();

    return e ? e->code : 0;
}

/* The error class for libvirt error CODE. */
static enum error_class
lv_class(int code)
{
    switch (code) {
    case VIR_ERR_NO_DOMAIN:
    case VIR_ERR_NO_DOMAIN_METADATA:
    case VIR_ERR_NO_DOMAIN_CHECKPOINT:
    case VIR_ERR_NO_DOMAIN_BACKUP:
        return ERR_NOT_FOUND;
    case VIR_ERR_OPERATION_INVALID:
    case VIR_ERR_DOM_EXIST:
        return ERR_CONFLICT;
    case VIR_ERR_INVALID_ARG:
    case VIR_ERR_XML_ERROR:
    case VIR_ERR_XML_DETAIL:
    case VIR_ERR_CONFIG_UNSUPPORTED:
    case VIR_ERR_OPERATION_UNSUPPORTED:
    case VIR_ERR_NO_SUPPORT:
        return ERR_INVALID;
    case VIR_ERR_OPERATION_TIMEOUT:
    case VIR_ERR_AGENT_UNRESPONSIVE:
        return ERR_TIMEOUT;
    case VIR_ERR_SYSTEM_ERROR:
    case VIR_ERR_RPC:
    case VIR_ERR_NO_CONNECT:
    case VIR_ERR_INVALID_CONN:
    case VIR_ERR_AUTH_FAILED:
        return ERR_IO;
    default:
        return ERR_GENERIC;
    }
}

/* Copy SRC into DST (N bytes) with control characters shown as \xNN: a
 * libvirt message may quote a guest agent's, which the guest wrote.
 */
static void
lv_escape(char *dst, size_t n, const char *src)
{
    size_t o = 0;

    for (; *src && o + 5 < n; src++) {
        unsigned char c = (unsigned char)*src;

        if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(dst + o, n - o, "\\x%02x", c);
        } else {
            dst[o++] = (char)c;
        }
    }
    dst[o] = '\0';
}

/* lv_fail and lv_fail_agent: AGENT says the call went to the guest
 * agent, whose failures are classed differently; *DEAD (when AGENT) is
 * set when the domain is gone.
 */
static int lv_failv(struct lv *lv, bool agent, bool *dead,
                    struct error **errp, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

static int
lv_failv(struct lv *lv, bool agent, bool *dead, struct error **errp,
         const char *fmt, va_list ap)
{
    virErrorPtr e = virGetLastError();
    int code = e ? e->code : 0;
    enum error_class cls = lv_class(code);
    char what[512], msg[1024];

    vsnprintf(what, sizeof(what), fmt, ap);
    lv_escape(msg, sizeof(msg),
              e && e->message ? e->message : "unknown libvirt error");
    if (agent) {
        if (code == VIR_ERR_NO_DOMAIN || code == VIR_ERR_OPERATION_INVALID) {
            *dead = true;
            cls = ERR_IO;
        } else if (code == VIR_ERR_ARGUMENT_UNSUPPORTED) {
            cls = ERR_INVALID;      /* no agent configured */
        } else if (code == VIR_ERR_INTERNAL_ERROR &&
                   strstr(msg, "agent command")) {
            cls = ERR_PEER;         /* the agent's own error reply */
        }
    }
    /* Asking whether the connection lives resets libvirt's last error,
     * so this comes after the message was copied.
     */
    if (lv && lv->conn && virConnectIsAlive(lv->conn) != 1) {
        virConnectClose(lv->conn);
        lv->conn = NULL;
        error_setg(errp, ERR_IO, "%s: the connection to libvirt at %s "
                   "was lost: %s", what, lv->uri, msg);
        return -1;
    }
    if (cls == ERR_PEER) {
        error_set_peer(errp, "GenericError", "%s: %s", what, msg);
    } else {
        error_setg(errp, cls, "%s: %s", what, msg);
    }
    return -1;
}

int
lv_fail(struct lv *lv, struct error **errp, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    lv_failv(lv, false, NULL, errp, fmt, ap);
    va_end(ap);
    return -1;
}

int
lv_fail_agent(struct lv *lv, bool *dead, struct error **errp,
              const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    lv_failv(lv, true, dead, errp, fmt, ap);
    va_end(ap);
    return -1;
}

virConnectPtr
lv_conn(struct lv *lv, struct error **errp)
{
    pthread_once(&lv_once, lv_init_once);
    if (lv->conn && virConnectIsAlive(lv->conn) == 1) {
        return lv->conn;
    }
    if (lv->conn) {
        log_debug("libvirt", "connection to %s lost: reconnecting",
                  lv->uri);
        virConnectClose(lv->conn);
        lv->conn = NULL;
    }
    lv->conn = virConnectOpen(lv->uri);
    if (lv->conn == NULL) {
        lv_fail(NULL, errp, "cannot connect to libvirt at %s", lv->uri);
        return NULL;
    }
    lv->gen++;
    return lv->conn;
}

virConnectPtr
lv_conn_wait(struct lv *lv, int timeout_ms, struct error **errp)
{
    int64_t deadline = sock_deadline(timeout_ms);

    for (;;) {
        struct error *err = NULL;
        virConnectPtr c = lv_conn(lv, &err);

        if (c) {
            return c;
        }
        if (sock_remaining_ms(deadline) == 0) {
            error_propagate(errp, err);
            return NULL;
        }
        error_free(err);
        sock_sleep_ms(LV_POLL_MS, deadline);
    }
}

virDomainPtr
lv_lookup(struct lv *lv, const char *id, struct error **errp)
{
    virConnectPtr c;
    virDomainPtr dom;

    if (!util_is_uuid(id)) {
        error_setg(errp, ERR_INVALID, "'%s' is not a domain UUID",
                   id ? id : "");
        return NULL;
    }
    c = lv_conn(lv, errp);
    if (c == NULL) {
        return NULL;
    }
    dom = virDomainLookupByUUIDString(c, id);
    if (dom == NULL && lv_last_code() != VIR_ERR_NO_DOMAIN) {
        struct error *err = NULL;

        lv_fail(lv, &err, "cannot look up domain %s", id);
        if (lv->conn) {
            error_propagate(errp, err);
            return NULL;
        }
        /* The connection had died since we last used it: once more. */
        error_free(err);
        c = lv_conn(lv, errp);
        if (c == NULL) {
            return NULL;
        }
        dom = virDomainLookupByUUIDString(c, id);
    }
    if (dom == NULL) {
        if (lv_last_code() == VIR_ERR_NO_DOMAIN) {
            error_setg(errp, ERR_NOT_FOUND, "no domain %s in libvirt", id);
            return NULL;
        }
        lv_fail(lv, errp, "cannot look up domain %s", id);
        return NULL;
    }
    return dom;
}

int
lv_seconds(int timeout_ms)
{
    if (timeout_ms <= 1000) {
        return 1;
    }
    return timeout_ms / 1000 + (timeout_ms % 1000 != 0);
}

int
lv_xdom_read(struct lv *lv, virDomainPtr dom, unsigned flags,
             struct lv_xdom *x, struct error **errp)
{
    char *xml = virDomainGetXMLDesc(dom, flags);
    int r;

    if (xml == NULL) {
        memset(x, 0, sizeof(*x));
        return lv_fail(lv, errp, "cannot read the XML of domain %s",
                       virDomainGetName(dom));
    }
    r = lv_xdom_parse(xml, x, errp);
    free(xml);
    return r;
}

/* ------------------------------------------------------------------ */
/* States                                                              */
/* ------------------------------------------------------------------ */

/* Fill *ST from libvirt's STATE and REASON (virDomainGetState). */
static void
lv_state_map(int state, int reason, struct hv_state *st)
{
    const char *status = "ERROR", *power = "no state", *fault = "";

    switch (state) {
    case VIR_DOMAIN_RUNNING:
        status = "ACTIVE";
        power = "running";
        break;
    case VIR_DOMAIN_BLOCKED:
        status = "ACTIVE";
        power = "idle";
        break;
    case VIR_DOMAIN_PAUSED:
        status = "PAUSED";
        power = "paused";
        if (reason == VIR_DOMAIN_PAUSED_IOERROR) {
            status = "ERROR";
            fault = "paused after an I/O error on a disk";
        } else if (reason == VIR_DOMAIN_PAUSED_CRASHED) {
            status = "ERROR";
            fault = "the guest crashed (paused)";
        } else if (reason == VIR_DOMAIN_PAUSED_STARTING_UP) {
            status = "BUILD";
        }
        break;
    case VIR_DOMAIN_SHUTDOWN:
        /* Still running, shutting down: Nova says ACTIVE. */
        status = "ACTIVE";
        power = "in shutdown";
        break;
    case VIR_DOMAIN_SHUTOFF:
        status = "SHUTOFF";
        power = "shut off";
        if (reason == VIR_DOMAIN_SHUTOFF_CRASHED) {
            fault = "the guest crashed";
        } else if (reason == VIR_DOMAIN_SHUTOFF_FAILED) {
            fault = "the domain failed to start";
        }
        break;
    case VIR_DOMAIN_CRASHED:
        status = "ERROR";
        power = "crashed";
        fault = "the guest crashed";
        break;
    case VIR_DOMAIN_PMSUSPENDED:
        status = "SUSPENDED";
        power = "pmsuspended";
        break;
    default:
        fault = "libvirt reports no state";
        break;
    }
    memset(st, 0, sizeof(*st));
    snprintf(st->status, sizeof(st->status), "%s", status);
    snprintf(st->power, sizeof(st->power), "%s", power);
    snprintf(st->fault, sizeof(st->fault), "%s", fault);
    /* How it went off: a guest that powered itself off left its disks
     * consistent; destroyed, crashed or failed ones did not.  Saved,
     * migrated or restored from a snapshot: not known.
     */
    if (state == VIR_DOMAIN_SHUTOFF) {
        if (reason == VIR_DOMAIN_SHUTOFF_SHUTDOWN) {
            st->clean_off = 1;
        } else if (reason == VIR_DOMAIN_SHUTOFF_DESTROYED ||
                   reason == VIR_DOMAIN_SHUTOFF_CRASHED ||
                   reason == VIR_DOMAIN_SHUTOFF_FAILED) {
            st->clean_off = -1;
        }
    }
}

/* The state of DOM, or -1 with the error. */
static int
lv_dom_state(struct lv *lv, virDomainPtr dom, int *state, int *reason,
             struct error **errp)
{
    if (virDomainGetState(dom, state, reason, 0) < 0) {
        return lv_fail(lv, errp, "cannot get the state of domain %s",
                       virDomainGetName(dom));
    }
    return 0;
}

static bool
lv_running(int state)
{
    return state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_BLOCKED ||
           state == VIR_DOMAIN_PAUSED || state == VIR_DOMAIN_SHUTDOWN ||
           state == VIR_DOMAIN_PMSUSPENDED;
}

/* ------------------------------------------------------------------ */
/* open, close, list                                                   */
/* ------------------------------------------------------------------ */

static int
lv_open(struct hv *hv, const struct config *cfg, void **priv,
        struct error **errp)
{
    struct lv *lv = xcalloc(1, sizeof(*lv));
    const char *uri = cfg && cfg->libvirt_uri && cfg->libvirt_uri[0]
                          ? cfg->libvirt_uri
                          : LV_DEFAULT_URI;

    lv->uri = xstrdup(uri);
    lv->cfg = cfg;
    lv->reconnect_ms = HV_LIBVIRT_RECONNECT_MS;
    if (lv_conn(lv, errp) == NULL) {
        free(lv->uri);
        free(lv);
        return -1;
    }
    *priv = lv;
    return 0;
}

static void
lv_close(struct hv *hv)
{
    struct lv *lv = hv_priv(hv);

    if (lv == NULL) {
        return;
    }
    if (lv->conn) {
        virConnectClose(lv->conn);
    }
    free(lv->uri);
    free(lv);
}

/* Fill *F from DOM.  Returns 1, 0 when the domain vanished meanwhile, or
 * -1 with the error.  The disks come from the running definition (what
 * QEMU has open, hot-plugged disks too), whether vmsnap made the domain
 * and its properties from the persistent one when there is one (virsh
 * metadata --config writes there).
 */
static int
lv_found_fill(struct lv *lv, virDomainPtr dom, struct hv_found *f,
              struct error **errp)
{
    struct lv_xdom x = {0}, conf = {0};
    struct error *err = NULL;
    virDomainInfo info;
    int state, reason, persistent;
    size_t i;

    memset(f, 0, sizeof(*f));
    if (virDomainGetUUIDString(dom, f->id) < 0 ||
        virDomainGetInfo(dom, &info) < 0 ||
        virDomainGetState(dom, &state, &reason, 0) < 0 ||
        (persistent = virDomainIsPersistent(dom)) < 0) {
        if (lv_last_code() == VIR_ERR_NO_DOMAIN) {
            return 0;
        }
        return lv_fail(lv, errp, "cannot read domain %s",
                       virDomainGetName(dom));
    }
    if (lv_xdom_read(lv, dom, 0, &x, &err) < 0 ||
        (persistent &&
         lv_xdom_read(lv, dom, VIR_DOMAIN_XML_INACTIVE, &conf, &err) < 0)) {
        lv_xdom_clear(&x);
        if (error_get_class(err) == ERR_NOT_FOUND) {
            error_free(err);    /* undefined meanwhile */
            return 0;
        }
        error_propagate(errp, err);
        return -1;
    }
    lv_state_map(state, reason, &f->state);
    f->name = xstrdup(virDomainGetName(dom));
    f->cpus = info.nrVirtCpu;
    f->memory_mb = (int64_t)(info.maxMem / 1024);
    f->agent = x.agent;
    f->disks = xcalloc(x.ndisks ? x.ndisks : 1, sizeof(*f->disks));
    for (i = 0; i < x.ndisks; i++) {
        struct hv_found_disk *fd = &f->disks[i];
        struct lv_xdisk *xd = &x.disks[i];

        /* libvirt reads a disk without a format as raw (it never probes
         * by default).
         */
        fd->format = xstrdup(xd->format[0] ? xd->format : "raw");
        fd->target = xd->target;
        fd->path = xd->path;
        fd->block = xd->block;
        fd->readonly = xd->readonly;
        xd->target = xd->path = NULL;
        f->ndisks++;
    }
    {
        struct lv_xdom *meta = persistent ? &conf : &x;

        f->managed = meta->managed;
        f->props = meta->props;
        f->nprops = meta->nprops;
        meta->props = NULL;
        meta->nprops = 0;
    }
    lv_xdom_clear(&x);
    lv_xdom_clear(&conf);
    return 1;
}

static int
lv_list(struct hv *hv, struct hv_found **out, size_t *n, struct error **errp)
{
    struct lv *lv = hv_priv(hv);
    virDomainPtr *doms = NULL;
    struct hv_found *list = NULL;
    size_t got = 0;
    int nd = -1, i, r = -1;
    virConnectPtr c;

    for (int attempt = 0; nd < 0; attempt++) {
        struct error *err = NULL;

        c = lv_conn(lv, errp);
        if (c == NULL) {
            return -1;
        }
        nd = virConnectListAllDomains(c, &doms, 0);
        if (nd >= 0) {
            break;
        }
        lv_fail(lv, &err, "cannot list the domains of %s", lv->uri);
        if (lv->conn || attempt > 0) {
            error_propagate(errp, err);
            return -1;
        }
        error_free(err);    /* the connection had died: once more */
    }
    list = xcalloc(nd > 0 ? (size_t)nd : 1, sizeof(*list));
    for (i = 0; i < nd; i++) {
        int f = lv_found_fill(lv, doms[i], &list[got], errp);

        if (f < 0) {
            goto out;
        }
        got += (size_t)f;
    }
    *out = list;
    *n = got;
    list = NULL;
    r = 0;
out:
    hv_found_list_free(list, got);
    for (i = 0; i < nd; i++) {
        virDomainFree(doms[i]);
    }
    free(doms);
    return r;
}

/* Check what every method that takes a struct hv_domain relies on. */
static int
lv_check_domain(const struct hv_domain *d, struct error **errp)
{
    if (d == NULL || !util_is_uuid(d->id)) {
        error_setg(errp, ERR_INVALID, "the domain has no UUID");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* start, stop, pause, destroy, state                                  */
/* ------------------------------------------------------------------ */

static int
lv_start(struct hv *hv, const struct hv_domain *d, struct error **errp)
{
    struct lv *lv = hv_priv(hv);
    struct error *err = NULL;
    CLEANUP_FREE char *xml = NULL;
    virDomainPtr dom;
    int state, reason, r = -1;

    if (lv_check_domain(d, errp) < 0) {
        return -1;
    }
    dom = lv_lookup(lv, d->id, &err);
    if (dom == NULL && error_get_class(err) != ERR_NOT_FOUND) {
        error_propagate(errp, err);
        return -1;
    }
    error_free(err);
    if (dom) {
        if (lv_dom_state(lv, dom, &state, &reason, errp) < 0) {
            goto out;
        }
        if (lv_running(state)) {
            error_setg(errp, ERR_CONFLICT, "domain %s is already running",
                       virDomainGetName(dom));
            goto out;
        }
        if (virDomainCreate(dom) < 0) {
            lv_fail(lv, errp, "cannot start domain %s",
                    virDomainGetName(dom));
            goto out;
        }
        r = 0;
        goto out;
    }
    /* A new domain: define it persistently, marked as ours, and start
     * it; a failed start leaves no definition behind.
     */
    if (d->name == NULL || d->name[0] == '\0' || d->cpus <= 0 ||
        d->memory_mb <= 0 || d->ndisks < 1 || d->state_dir == NULL) {
        error_setg(errp, ERR_INVALID, "incomplete domain description");
        return -1;
    }
    xml = lv_domain_xml(lv, d, errp);
    if (xml == NULL) {
        return -1;
    }
    log_debug("libvirt", "defining %s", xml);
    dom = virDomainDefineXML(lv->conn, xml);
    if (dom == NULL) {
        return lv_fail(lv, errp, "cannot define domain %s", d->name);
    }
    if (virDomainCreate(dom) < 0) {
        lv_fail(lv, errp, "cannot start domain %s", d->name);
        if (virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_NVRAM) < 0) {
            log_warnx("cannot undefine domain %s after its failed start",
                      d->name);
        }
        goto out;
    }
    r = 0;
out:
    virDomainFree(dom);
    return r;
}

/* Wait until DOM is shut off or DEADLINE passes; true when it is off. */
static bool
lv_wait_off(virDomainPtr dom, int64_t deadline)
{
    for (;;) {
        int state, reason;

        if (virDomainGetState(dom, &state, &reason, 0) == 0 &&
            state == VIR_DOMAIN_SHUTOFF) {
            return true;
        }
        if (sock_remaining_ms(deadline) == 0) {
            return false;
        }
        sock_sleep_ms(LV_POLL_MS, deadline);
    }
}

static int
lv_stop(struct hv *hv, const struct hv_domain *d, int timeout_s,
        bool *clean, struct error **errp)
{
    struct lv *lv = hv_priv(hv);
    unsigned flags = VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN;
    virDomainPtr dom;
    struct lv_xdom x;
    int state, reason, r = -1;
    bool asked = false;

    *clean = false;
    if (lv_check_domain(d, errp) < 0) {
        return -1;
    }
    dom = lv_lookup(lv, d->id, errp);
    if (dom == NULL) {
        return -1;
    }
    if (lv_dom_state(lv, dom, &state, &reason, errp) < 0) {
        goto out;
    }
    if (state == VIR_DOMAIN_SHUTOFF) {
        /* Off already: clean only if the guest itself powered off. */
        *clean = reason == VIR_DOMAIN_SHUTOFF_SHUTDOWN;
        r = 0;
        goto out;
    }
    /* A paused guest cannot act on a shutdown request. */
    if (state == VIR_DOMAIN_PAUSED && virDomainResume(dom) < 0) {
        log_debug("libvirt", "cannot resume %s to shut it down",
                  virDomainGetName(dom));
    } else if (state == VIR_DOMAIN_PMSUSPENDED &&
               virDomainPMWakeup(dom, 0) < 0) {
        log_debug("libvirt", "cannot wake %s up to shut it down",
                  virDomainGetName(dom));
    }
    if (state != VIR_DOMAIN_CRASHED && timeout_s > 0) {
        if (lv_xdom_read(lv, dom, 0, &x, NULL) == 0) {
            if (x.agent) {
                flags |= VIR_DOMAIN_SHUTDOWN_GUEST_AGENT;
            }
            lv_xdom_clear(&x);
        }
        /* With both flags libvirt asks the agent first and falls back
         * to the ACPI power button.
         */
        asked = virDomainShutdownFlags(dom, flags) == 0;
        if (!asked) {
            log_debug("libvirt", "no clean shutdown of %s: %s",
                      virDomainGetName(dom), virGetLastErrorMessage());
        }
    }
    if (asked && lv_wait_off(dom, sock_deadline(timeout_s * 1000))) {
        *clean = true;
        r = 0;
        goto out;
    }
    /* Forced: SIGTERM first (QEMU then writes its persistent dirty
     * bitmaps), SIGKILL when that does not do it.
     */
    if (virDomainDestroyFlags(dom, VIR_DOMAIN_DESTROY_GRACEFUL) < 0 &&
        virDomainDestroy(dom) < 0) {
        if (lv_dom_state(lv, dom, &state, &reason, NULL) == 0 &&
            state == VIR_DOMAIN_SHUTOFF) {
            *clean = reason == VIR_DOMAIN_SHUTOFF_SHUTDOWN;
            r = 0;
            goto out;
        }
        lv_fail(lv, errp, "cannot power off domain %s",
                virDomainGetName(dom));
        goto out;
    }
    r = 0;
out:
    virDomainFree(dom);
    return r;
}

static int
lv_pause(struct hv *hv, const struct hv_domain *d, bool pause,
         struct error **errp)
{
    struct lv *lv = hv_priv(hv);
    virDomainPtr dom;
    int state, reason, r = -1;

    if (lv_check_domain(d, errp) < 0) {
        return -1;
    }
    dom = lv_lookup(lv, d->id, errp);
    if (dom == NULL) {
        return -1;
    }
    if (lv_dom_state(lv, dom, &state, &reason, errp) < 0) {
        goto out;
    }
    if (state == VIR_DOMAIN_PAUSED) {
        r = pause ? 0 : virDomainResume(dom);
    } else if (state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_BLOCKED) {
        r = pause ? virDomainSuspend(dom) : 0;
    } else {
        struct hv_state st;

        lv_state_map(state, reason, &st);
        error_setg(errp, ERR_CONFLICT, "domain %s is not running (%s)",
                   virDomainGetName(dom), st.power);
        goto out;
    }
    if (r < 0) {
        lv_fail(lv, errp, "cannot %s domain %s", pause ? "pause" : "resume",
                virDomainGetName(dom));
    }
out:
    virDomainFree(dom);
    return r;
}

static int
lv_destroy_flags(struct hv *hv, const struct hv_domain *d, unsigned flags,
                 struct error **errp)
{
    struct lv *lv = hv_priv(hv);
    struct error *err = NULL;
    virDomainPtr dom;
    struct lv_xdom x;
    int persistent, active, r = -1;

    if (lv_check_domain(d, errp) < 0) {
        return -1;
    }
    dom = lv_lookup(lv, d->id, &err);
    if (dom == NULL) {
        if (error_get_class(err) == ERR_NOT_FOUND) {
            error_free(err);
            return 0;
        }
        error_propagate(errp, err);
        return -1;
    }
    persistent = virDomainIsPersistent(dom);
    active = virDomainIsActive(dom);
    if (persistent < 0 || active < 0 ||
        lv_xdom_read(lv, dom, persistent ? VIR_DOMAIN_XML_INACTIVE : 0, &x,
                     errp) < 0) {
        if (persistent < 0 || active < 0) {
            lv_fail(lv, errp, "cannot read domain %s",
                    virDomainGetName(dom));
        }
        goto out;
    }
    if (!x.managed && !(flags & HV_DESTROY_FORCE)) {
        lv_xdom_clear(&x);
        error_setg(errp, ERR_CONFLICT,
                   "domain %s was not created by vmsnap: not destroying it "
                   "unless forced",
                   virDomainGetName(dom));
        goto out;
    }
    lv_xdom_clear(&x);
    if (active && virDomainDestroy(dom) < 0 &&
        lv_last_code() != VIR_ERR_OPERATION_INVALID) {
        lv_fail(lv, errp, "cannot power off domain %s",
                virDomainGetName(dom));
        goto out;
    }
    if (persistent &&
        virDomainUndefineFlags(dom, LV_UNDEFINE_FLAGS) < 0) {
        lv_fail(lv, errp, "cannot undefine domain %s",
                virDomainGetName(dom));
        goto out;
    }
    r = 0;
out:
    virDomainFree(dom);
    return r;
}

static int
lv_destroy(struct hv *hv, const struct hv_domain *d, struct error **errp)
{
    return lv_destroy_flags(hv, d, 0, errp);
}

static int
lv_state(struct hv *hv, const struct hv_domain *d, struct hv_state *st,
         struct error **errp)
{
    struct lv *lv = hv_priv(hv);
    struct error *err = NULL;
    virDomainPtr dom;
    int state, reason;

    if (lv_check_domain(d, errp) < 0) {
        return -1;
    }
    memset(st, 0, sizeof(*st));
    dom = lv_lookup(lv, d->id, &err);
    if (dom && lv_dom_state(lv, dom, &state, &reason, &err) == 0) {
        lv_state_map(state, reason, st);
    } else if (error_get_class(err) == ERR_NOT_FOUND) {
        snprintf(st->status, sizeof(st->status), "SHUTOFF");
        snprintf(st->power, sizeof(st->power), "undefined");
        snprintf(st->fault, sizeof(st->fault),
                 "the domain is not defined in libvirt");
    } else {
        /* libvirt itself is the trouble: a state, not an error. */
        snprintf(st->status, sizeof(st->status), "ERROR");
        snprintf(st->power, sizeof(st->power), "unknown");
        snprintf(st->fault, sizeof(st->fault), "%s", error_msg(err));
    }
    error_free(err);
    if (dom) {
        virDomainFree(dom);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Disks                                                               */
/* ------------------------------------------------------------------ */

/* Where a hot-plug lands: live only for a domain vmsnap did not make (an
 * administrator's definition is not ours to change: the disk is gone
 * after the domain's next restart), live and persistent for ours, and
 * persistent only for ours when it is shut off.  Returns the flags, or
 * -1 with ERR_CONFLICT when the domain is not ours and not running.
 */
static int
lv_device_flags(struct lv *lv, virDomainPtr dom, bool *managed,
                struct error **errp)
{
    int active = virDomainIsActive(dom);
    int persistent = virDomainIsPersistent(dom);
    struct lv_xdom x;
    unsigned flags = 0;

    if (active < 0 || persistent < 0) {
        return lv_fail(lv, errp, "cannot read domain %s",
                       virDomainGetName(dom));
    }
    if (lv_xdom_read(lv, dom, persistent ? VIR_DOMAIN_XML_INACTIVE : 0, &x,
                     errp) < 0) {
        return -1;
    }
    *managed = x.managed;
    lv_xdom_clear(&x);
    if (active) {
        flags |= VIR_DOMAIN_AFFECT_LIVE;
    }
    if (*managed && persistent) {
        flags |= VIR_DOMAIN_AFFECT_CONFIG;
    }
    if (flags == 0) {
        error_setg(errp, ERR_CONFLICT, "domain %s is not running",
                   virDomainGetName(dom));
        return -1;
    }
    return (int)flags;
}

/* True if X has a disk with target TARGET. */
static bool
lv_target_used(const struct lv_xdom *x, const char *target)
{
    size_t i;

    for (i = 0; i < x->ndisks; i++) {
        if (strcmp(x->disks[i].target, target) == 0) {
            return true;
        }
    }
    return false;
}

static int
lv_disk_attach(struct hv *hv, const struct hv_domain *d,
               const struct hv_disk *disk, struct error **errp)
{
    struct lv *lv = hv_priv(hv);
    struct lv_xdom live = {0}, conf = {0};
    CLEANUP_FREE char *xml = NULL;
    char target[16];
    virDomainPtr dom;
    bool managed = false;
    int flags, n, r = -1;

    if (lv_check_domain(d, errp) < 0) {
        return -1;
    }
    dom = lv_lookup(lv, d->id, errp);
    if (dom == NULL) {
        return -1;
    }
    flags = lv_device_flags(lv, dom, &managed, errp);
    if (flags < 0 || lv_xdom_read(lv, dom, 0, &live, errp) < 0 ||
        ((flags & VIR_DOMAIN_AFFECT_CONFIG) &&
         lv_xdom_read(lv, dom, VIR_DOMAIN_XML_INACTIVE, &conf, errp) < 0)) {
        goto out;
    }
    if (lv_xdom_find(&live, disk->path) || lv_xdom_find(&conf, disk->path)) {
        error_setg(errp, ERR_CONFLICT, "%s is already attached to domain %s",
                   disk->path, virDomainGetName(dom));
        goto out;
    }
    /* The first virtio name free in both the running and the persistent
     * definition.
     */
    for (n = 0;; n++) {
        lv_vd_name(n, target);
        if (!lv_target_used(&live, target) && !lv_target_used(&conf, target)) {
            break;
        }
    }
    xml = lv_disk_xml(disk, target, errp);
    if (xml == NULL) {
        goto out;
    }
    if (virDomainAttachDeviceFlags(dom, xml, (unsigned)flags) < 0) {
        lv_fail(lv, errp, "cannot attach %s to domain %s", disk->path,
                virDomainGetName(dom));
        goto out;
    }
    r = 0;
out:
    lv_xdom_clear(&live);
    lv_xdom_clear(&conf);
    virDomainFree(dom);
    return r;
}

static int
lv_disk_detach(struct hv *hv, const struct hv_domain *d,
               const struct hv_disk *disk, struct error **errp)
{
    struct lv *lv = hv_priv(hv);
    struct lv_xdom live = {0}, conf = {0};
    const struct lv_xdisk *found = NULL;
    CLEANUP_FREE char *xml = NULL;
    char target[32] = "";
    virDomainPtr dom;
    bool managed = false;
    int flags, r = -1;
    int64_t deadline;

    if (lv_check_domain(d, errp) < 0) {
        return -1;
    }
    dom = lv_lookup(lv, d->id, errp);
    if (dom == NULL) {
        return -1;
    }
    flags = lv_device_flags(lv, dom, &managed, errp);
    if (flags < 0 ||
        ((flags & VIR_DOMAIN_AFFECT_LIVE) &&
         lv_xdom_read(lv, dom, 0, &live, errp) < 0) ||
        ((flags & VIR_DOMAIN_AFFECT_CONFIG) &&
         lv_xdom_read(lv, dom, VIR_DOMAIN_XML_INACTIVE, &conf, errp) < 0)) {
        goto out;
    }
    /* Detach from each definition that has the disk. */
    if (!lv_xdom_find(&live, disk->path)) {
        flags &= ~VIR_DOMAIN_AFFECT_LIVE;
    } else {
        found = lv_xdom_find(&live, disk->path);
    }
    if (!lv_xdom_find(&conf, disk->path)) {
        flags &= ~VIR_DOMAIN_AFFECT_CONFIG;
    } else if (found == NULL) {
        found = lv_xdom_find(&conf, disk->path);
    }
    if (found == NULL) {
        error_setg(errp, ERR_NOT_FOUND, "%s is not attached to domain %s",
                   disk->path, virDomainGetName(dom));
        goto out;
    }
    snprintf(target, sizeof(target), "%s", found->target);
    xml = lv_detach_xml(found);
    if (virDomainDetachDeviceFlags(dom, xml, (unsigned)flags) < 0) {
        lv_fail(lv, errp, "cannot detach %s from domain %s", disk->path,
                virDomainGetName(dom));
        goto out;
    }
    /* libvirt returns once it asked; the guest lets go when it is ready.
     * Wait until the running domain has no such disk any more.
     */
    deadline = sock_deadline(LV_DETACH_TIMEOUT_MS);
    while (flags & VIR_DOMAIN_AFFECT_LIVE) {
        lv_xdom_clear(&live);
        if (lv_xdom_read(lv, dom, 0, &live, errp) < 0) {
            goto out;
        }
        if (!lv_xdom_find(&live, disk->path)) {
            break;
        }
        if (sock_remaining_ms(deadline) == 0) {
            error_setg(errp, ERR_TIMEOUT,
                       "the guest of domain %s did not release disk %s",
                       virDomainGetName(dom), target);
            goto out;
        }
        sock_sleep_ms(LV_POLL_MS, deadline);
    }
    r = 0;
out:
    lv_xdom_clear(&live);
    lv_xdom_clear(&conf);
    virDomainFree(dom);
    return r;
}

static struct agent *
lv_agent(struct hv *hv, const struct hv_domain *d, int timeout_ms,
         unsigned flags, struct error **errp)
{
    /* FLAGS do not apply: libvirtd keeps its own connection to the
     * agent and synchronises it.
     */
    if (lv_check_domain(d, errp) < 0) {
        return NULL;
    }
    return lv_agent_open(hv_priv(hv), d, timeout_ms, errp);
}

/* ------------------------------------------------------------------ */
/* Extras of hv-libvirt.h                                              */
/* ------------------------------------------------------------------ */

static int
lv_find(struct hv *hv, const char *id, struct hv_found *out,
        struct error **errp)
{
    struct lv *lv = hv_priv(hv);
    virDomainPtr dom = lv_lookup(lv, id, errp);
    int r;

    memset(out, 0, sizeof(*out));
    if (dom == NULL) {
        return -1;
    }
    r = lv_found_fill(lv, dom, out, errp);
    virDomainFree(dom);
    if (r == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no domain %s in libvirt", id);
        return -1;
    }
    return r < 0 ? -1 : 0;
}

/* Set property NAME of D to VALUE (NULL: remove it) in vmsnap's element
 * of the domain's metadata: in the persistent definition when it has
 * one (it lasts), and in the running one when it runs (so that both say
 * the same).  The element keeps "managed" and the other properties.
 */
static int
lv_set_prop(struct hv *hv, const struct hv_domain *d, const char *name,
            const char *value, struct error **errp)
{
    struct lv *lv = hv_priv(hv);
    CLEANUP_FREE char *xml = NULL;
    struct hv_prop *props = NULL;
    struct lv_xdom x = {0};
    virDomainPtr dom;
    int persistent, active, r = -1;
    unsigned flags = 0;
    size_t i, n = 0;

    if (lv_check_domain(d, errp) < 0) {
        return -1;
    }
    dom = lv_lookup(lv, d->id, errp);
    if (dom == NULL) {
        return -1;
    }
    persistent = virDomainIsPersistent(dom);
    active = virDomainIsActive(dom);
    if (persistent < 0 || active < 0) {
        lv_fail(lv, errp, "cannot read domain %s", virDomainGetName(dom));
        goto out;
    }
    if (lv_xdom_read(lv, dom, persistent ? VIR_DOMAIN_XML_INACTIVE : 0, &x,
                     errp) < 0) {
        goto out;
    }
    props = xcalloc(x.nprops + 1, sizeof(*props));
    /* Borrowed from X: the others as they are, then ours. */
    for (i = 0; i < x.nprops; i++) {
        if (strcmp(x.props[i].name, name) != 0) {
            props[n++] = x.props[i];
        }
    }
    if (value) {
        props[n].name = (char *)name;
        props[n].value = (char *)value;
        n++;
    }
    xml = lv_meta_xml(x.managed, props, n, errp);
    if (xml == NULL) {
        goto out;
    }
    flags = (persistent ? VIR_DOMAIN_AFFECT_CONFIG : 0) |
            (active ? VIR_DOMAIN_AFFECT_LIVE : 0);
    /* Nothing left to say: no element at all, as before vmsnap. */
    if (virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT,
                             n == 0 && !x.managed ? NULL : xml,
                             HV_LIBVIRT_NS_PREFIX, HV_LIBVIRT_NS,
                             flags) < 0) {
        lv_fail(lv, errp, "cannot set the metadata of domain %s",
                virDomainGetName(dom));
        goto out;
    }
    r = 0;
out:
    free(props);
    lv_xdom_clear(&x);
    virDomainFree(dom);
    return r;
}

void
hv_libvirt_set_reconnect_ms(struct hv *hv, int ms)
{
    struct lv *lv = hv_priv(hv);

    lv->reconnect_ms = ms;
}

static const struct hv_ops lv_ops = {
    .version = 2,
    .name = "libvirt",
    .open = lv_open,
    .close = lv_close,
    .list = lv_list,
    .start = lv_start,
    .stop = lv_stop,
    .pause = lv_pause,
    .destroy = lv_destroy,
    .state = lv_state,
    .disk_attach = lv_disk_attach,
    .disk_detach = lv_disk_detach,
    .agent_open = lv_agent,
    .backup_prepare = lv_backup_prepare,
    .backup_fix = lv_backup_fix,
    .backup_wait = lv_backup_wait,
    .backup_finish = lv_backup_finish,
    .backup_abort = lv_backup_abort,
    .backup_reap = lv_backup_reap,
    .bitmap_check = lv_bitmap_check,
    .one_checkpoint = true,
    .find = lv_find,
    .destroy_flags = lv_destroy_flags,
    .set_prop = lv_set_prop,
};

const struct hv_ops *
hv_libvirt_ops(void)
{
    return &lv_ops;
}
