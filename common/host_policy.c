/*
 * host_policy: the host requests of a TaskInfo (privileged, cap-add,
 * host bind mounts and isolation-disabling security options) and the
 * slave's allow-lists for them (see host_policy.h). Paths are compared
 * after lexical normalisation, component by component, so "/srv/../"
 * is "/" and "/srvx" is not under "/srv"; symbolic links are the
 * slave's to resolve (it can see the file system, this module cannot).
 */
#define _GNU_SOURCE
#include "host_policy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

char *host_path_normalize(const char *path)
{
    size_t len, n = 0, clen;
    const char *p, *c;
    char *out;

    if (path == NULL || path[0] != '/')
        return NULL;
    len = strlen(path);
    out = xmalloc(len + 2);
    out[0] = '\0';
    for (p = path; *p;) {
        while (*p == '/')
            p++;
        if (*p == '\0')
            break;
        c = p;
        while (*p && *p != '/')
            p++;
        clen = (size_t)(p - c);
        if (clen == 1 && c[0] == '.')
            continue;
        if (clen == 2 && c[0] == '.' && c[1] == '.') {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--; /* the '/' before the removed component */
            out[n] = '\0';
            continue;
        }
        out[n++] = '/';
        memcpy(out + n, c, clen);
        n += clen;
        out[n] = '\0';
    }
    if (n == 0) {
        out[0] = '/';
        out[1] = '\0';
    }
    return out;
}

bool host_path_under(const char *path, const char *prefix)
{
    char *np = host_path_normalize(path), *nq = host_path_normalize(prefix);
    bool under = false;
    size_t lq;

    if (np != NULL && nq != NULL) {
        lq = strlen(nq);
        if (strcmp(nq, "/") == 0)
            under = true;
        else
            under = strncmp(np, nq, lq) == 0 && (np[lq] == '\0' || np[lq] == '/');
    }
    free(np);
    free(nq);
    return under;
}

char *host_capability_canonical(const char *name)
{
    char *c;
    size_t i;

    if (strncasecmp(name, "CAP_", 4) == 0)
        name += 4;
    c = xstrdup(name);
    for (i = 0; c[i]; i++)
        c[i] = (char)toupper((unsigned char)c[i]);
    return c;
}

static void ask_add(struct host_asks *a, enum host_ask_kind kind, char *field, char *value)
{
    a->v = xrealloc(a->v, (a->n + 1) * sizeof(*a->v));
    a->v[a->n].kind = kind;
    a->v[a->n].field = field;
    a->v[a->n].value = value;
    a->n++;
}

void host_asks_cleanup(struct host_asks *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->v[i].field);
        free(a->v[i].value);
    }
    free(a->v);
    a->v = NULL;
    a->n = 0;
}

/* security-opt values that turn an isolation layer off: as much the
 * host's as --privileged (seccomp and AppArmor confine the container's
 * root, systempaths masks /proc and /sys). */
static bool security_opt_unconfines(const char *v)
{
    return strstr(v, "unconfined") != NULL || strcmp(v, "label=disable") == 0 ||
           strcmp(v, "label:disable") == 0;
}

static int scan_parameters(const Mesos__V1__ContainerInfo__DockerInfo *di, struct host_asks *out)
{
    for (size_t i = 0; i < di->n_parameters; i++) {
        const char *k = di->parameters[i]->key, *v = di->parameters[i]->value;
        char *field;

        if (k == NULL)
            continue; /* docker_spec refuses it, naming the field */
        v = v ? v : "";
        field = xasprintf("container.docker.parameters[%zu]", i);
        if (strcmp(k, "cap-add") == 0) {
            ask_add(out, HOST_ASK_CAPABILITY, field, host_capability_canonical(v));
        } else if ((strcmp(k, "volume") == 0 || strcmp(k, "v") == 0) && v[0] == '/') {
            /* "SRC:DST[:MODE]"; a source without '/' is a named volume. */
            const char *colon = strchr(v, ':');
            char *src = colon ? xstrndup(v, (size_t)(colon - v)) : xstrdup(v);
            ask_add(out, HOST_ASK_HOST_PATH, field, host_path_normalize(src));
            free(src);
        } else if (strcmp(k, "security-opt") == 0 && security_opt_unconfines(v)) {
            ask_add(out, HOST_ASK_PRIVILEGED, field, xasprintf("security-opt=%s", v));
        } else {
            free(field);
        }
    }
    return 0;
}

/* A sandbox-relative path must stay in the sandbox. */
static bool relative_stays_inside(const char *rel)
{
    char *fake = xasprintf("/sandbox/%s", rel);
    bool inside = host_path_under(fake, "/sandbox");

    free(fake);
    return inside;
}

int host_asks_scan(const Mesos__V1__TaskInfo *ti, struct host_asks *out, char **err)
{
    const Mesos__V1__ContainerInfo *ci = ti->container;

    memset(out, 0, sizeof(*out));
    if (ci == NULL)
        return 0;
    if (ci->docker != NULL) {
        if (ci->docker->has_privileged && ci->docker->privileged)
            ask_add(out, HOST_ASK_PRIVILEGED, xstrdup("container.docker.privileged"),
                    xstrdup("true"));
        scan_parameters(ci->docker, out);
    }
    for (size_t i = 0; i < ci->n_volumes; i++) {
        const Mesos__V1__Volume *v = ci->volumes[i];
        const Mesos__V1__Volume__Source *so = v->source;

        if (so != NULL && so->has_type && so->type == MESOS__V1__VOLUME__SOURCE__TYPE__HOST_PATH &&
            so->host_path != NULL && so->host_path->path != NULL) {
            const char *p = so->host_path->path;
            if (p[0] != '/') {
                *err = xasprintf("container.volumes[%zu].source.host_path.path: '%s' is not "
                                 "absolute",
                                 i, p);
                goto fail;
            }
            ask_add(out, HOST_ASK_HOST_PATH,
                    xasprintf("container.volumes[%zu].source.host_path.path", i),
                    host_path_normalize(p));
        } else if (so != NULL && so->has_type &&
                   (so->type == MESOS__V1__VOLUME__SOURCE__TYPE__DOCKER_VOLUME ||
                    so->type == MESOS__V1__VOLUME__SOURCE__TYPE__SANDBOX_PATH)) {
            continue; /* docker_spec keeps sandbox paths inside */
        } else if (v->host_path != NULL && v->host_path[0] == '/') {
            ask_add(out, HOST_ASK_HOST_PATH, xasprintf("container.volumes[%zu].host_path", i),
                    host_path_normalize(v->host_path));
        } else if (v->host_path != NULL && !relative_stays_inside(v->host_path)) {
            *err = xasprintf("container.volumes[%zu].host_path: '%s' leaves the sandbox", i,
                             v->host_path);
            goto fail;
        }
    }
    return 0;
fail:
    host_asks_cleanup(out);
    return -1;
}

/* ------------------------------------------------------------- the slave */

static void list_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Split a comma list, trimming blanks; conv turns each entry into its
 * stored form (NULL: refused, with *err set from flag and entry). */
static int list_parse(const char *text, const char *flag, char *(*conv)(const char *), char ***out,
                      size_t *nout, char **err)
{
    char *copy, *tok, *save = NULL;

    *out = NULL;
    *nout = 0;
    if (text == NULL)
        return 0;
    copy = xstrdup(text);
    for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *end, *v;
        while (isspace((unsigned char)*tok))
            tok++;
        end = tok + strlen(tok);
        while (end > tok && isspace((unsigned char)end[-1]))
            *--end = '\0';
        if (*tok == '\0')
            continue;
        v = conv(tok);
        if (v == NULL) {
            *err = xasprintf("%s: '%s' is not an absolute path", flag, tok);
            free(copy);
            list_free(*out, *nout);
            *out = NULL;
            *nout = 0;
            return -1;
        }
        *out = xrealloc(*out, (*nout + 1) * sizeof(**out));
        (*out)[(*nout)++] = v;
    }
    free(copy);
    return 0;
}

int host_policy_init(struct host_policy *p, bool allow_privileged, const char *capabilities,
                     const char *paths, char **err)
{
    memset(p, 0, sizeof(*p));
    p->allow_privileged = allow_privileged;
    if (list_parse(capabilities, "--allowed_capabilities", host_capability_canonical,
                   &p->capabilities, &p->ncapabilities, err) < 0 ||
        list_parse(paths, "--allowed_host_paths", host_path_normalize, &p->paths, &p->npaths, err) <
            0) {
        host_policy_cleanup(p);
        return -1;
    }
    return 0;
}

void host_policy_cleanup(struct host_policy *p)
{
    list_free(p->capabilities, p->ncapabilities);
    list_free(p->paths, p->npaths);
    memset(p, 0, sizeof(*p));
}

bool host_policy_allows(const struct host_policy *p, const struct host_ask *a, char **err)
{
    size_t i;

    switch (a->kind) {
    case HOST_ASK_PRIVILEGED:
        if (p->allow_privileged)
            return true;
        if (strcmp(a->value, "true") == 0)
            *err =
                xasprintf("%s is not allowed on this slave (--docker_allow_privileged)", a->field);
        else
            *err = xasprintf("%s: '%s' is not allowed on this slave (--docker_allow_privileged)",
                             a->field, a->value);
        return false;
    case HOST_ASK_CAPABILITY:
        for (i = 0; i < p->ncapabilities; i++)
            if (strcmp(p->capabilities[i], "ALL") == 0 || strcmp(p->capabilities[i], a->value) == 0)
                return true;
        *err = xasprintf("%s: cap-add '%s' is not allowed on this slave (--allowed_capabilities)",
                         a->field, a->value);
        return false;
    case HOST_ASK_HOST_PATH:
        for (i = 0; i < p->npaths; i++)
            if (host_path_under(a->value, p->paths[i]))
                return true;
        *err = xasprintf("%s: host path '%s' is not allowed on this slave (--allowed_host_paths)",
                         a->field, a->value);
        return false;
    }
    return false;
}
