/*
 * diff: how to go from one rendered configuration to the next — a pure
 * function of the two texts (config.c's output) and of the servers the
 * runtime still holds outside the configuration (draining ones).
 *
 * The texts are compared with their "server" lines taken out: when what
 * is left differs (a frontend, a backend, a mode, a global setting), only
 * a reload applies the change. Otherwise the change is in backend
 * membership only, and it is applied through HAProxy's runtime API: a
 * server "b/s" that appears is added (or, still draining, made ready
 * again), one that leaves is drained first and deleted later
 * (lbdiff_remove_commands) so its connections can finish.
 *
 * config.c names a server after its address and port, so a name always
 * means the same address: servers are compared by "backend/name".
 *
 * After a task event only one app's lines change, so only the part
 * between the texts' common head and tail (cut at section headers) is
 * split and compared: the rest is the same in both, servers and all,
 * and adds nothing to the difference. At 10,000 servers that turns
 * ~100 ms of parsing into a memcmp.
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

#include <jansson.h>

#include "mem.h"
#include "pacer_lb.h"

struct srv_list {
    struct lbdiff_server *v;
    size_t n, cap;
};

static void list_push(struct srv_list *l, const char *backend, const char *name, const char *addr)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = (struct lbdiff_server){ .backend = xstrdup(backend),
                                           .name = xstrdup(name),
                                           .addr = xstrdup(addr) };
}

static void server_free(struct lbdiff_server *s)
{
    free(s->backend);
    free(s->name);
    free(s->addr);
}

static int cmp_server(const void *a, const void *b)
{
    const struct lbdiff_server *x = a, *y = b;
    int c = strcmp(x->backend, y->backend);
    return c != 0 ? c : strcmp(x->name, y->name);
}

/* Split the first len bytes of text into its skeleton (every line but
 * servers, caller frees) and its servers (sorted). -1 when a server line
 * is malformed. */
static int split(const char *text, size_t len_in, char **skeleton, struct srv_list *servers)
{
    size_t len = 0;
    FILE *f = open_memstream(skeleton, &len);
    if (f == NULL)
        abort();
    char backend[256] = "";
    int rc = 0;
    const char *p = text != NULL ? text : "", *end = p + (text != NULL ? len_in : 0);
    while (p < end) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        size_t n = e ? (size_t)(e - p) : (size_t)(end - p);
        char line[1024];
        if (n >= sizeof(line)) {
            fwrite(p, 1, n, f);
            fputc('\n', f);
        } else {
            memcpy(line, p, n);
            line[n] = '\0';
            char name[256], addr[256];
            if (sscanf(line, "backend %255s", backend) == 1) {
                fprintf(f, "%s\n", line);
            } else if (line[0] != ' ' && line[0] != '\0') {
                backend[0] = '\0';
                fprintf(f, "%s\n", line);
            } else if (strncmp(line, "    server ", 11) == 0 && strstr(line, " cookie ") == NULL) {
                if (backend[0] == '\0' || sscanf(line, "    server %255s %255s", name, addr) != 2)
                    rc = -1;
                else
                    list_push(servers, backend, name, addr);
            } else {
                fprintf(f, "%s\n", line);
            }
        }
        p += n;
        if (p < end && *p == '\n')
            p++;
    }
    fclose(f);
    if (servers->n > 1)
        qsort(servers->v, servers->n, sizeof(*servers->v), cmp_server);
    return rc;
}

static void list_cleanup(struct srv_list *l)
{
    for (size_t k = 0; k < l->n; k++)
        server_free(&l->v[k]);
    free(l->v);
}

/* Does a line starting at text[k] open a section (a header line, not
 * indented)? k is at the start of a line. */
static bool section_start(const char *text, size_t k, size_t len)
{
    return k < len && text[k] != ' ' && text[k] != '\n';
}

/* The common head [0, *head) and tail (the last *tail bytes) of a and b,
 * both cut where a section starts, so the parts in between split as
 * they would inside the whole texts. */
static void common_ends(const char *a, size_t la, const char *b, size_t lb, size_t *head,
                        size_t *tail)
{
    size_t min = la < lb ? la : lb, h = 0, t = 0;
    while (h < min && a[h] == b[h])
        h++;
    /* Back to a header line that both texts start at h. */
    while (h > 0 && !(a[h - 1] == '\n' && section_start(a, h, la) && section_start(b, h, lb)))
        h--;
    while (t < min - h && a[la - 1 - t] == b[lb - 1 - t])
        t++;
    /* Forward to the first header line inside the common tail, the '\n'
     * before it included, so both texts have it at a line start. */
    size_t k = la - t + 1;
    while (k < la && !(a[k - 1] == '\n' && section_start(a, k, la)))
        k++;
    if (k > la)
        k = la;
    *head = h;
    *tail = la - k;
}

int lbdiff_compute(const char *old_text, const char *new_text, struct lbdiff *d)
{
    struct srv_list o = { 0 }, n = { 0 }, add = { 0 }, del = { 0 };
    char *ko = NULL, *kn = NULL;
    memset(d, 0, sizeof(*d));
    int rc = 0;
    size_t lo = old_text ? strlen(old_text) : 0, ln = new_text ? strlen(new_text) : 0;
    size_t head = 0, tail = 0;
    if (old_text != NULL && new_text != NULL)
        common_ends(old_text, lo, new_text, ln, &head, &tail);
    if (old_text == NULL || split(old_text + head, lo - head - tail, &ko, &o) != 0 ||
        split(new_text + head, ln - head - tail, &kn, &n) != 0 || strcmp(ko, kn) != 0) {
        d->kind = LBDIFF_RELOAD;
        goto out;
    }
    size_t i = 0, j = 0;
    while (i < o.n || j < n.n) {
        int c = i == o.n ? 1 : j == n.n ? -1 : cmp_server(&o.v[i], &n.v[j]);
        if (c < 0) {
            list_push(&del, o.v[i].backend, o.v[i].name, o.v[i].addr);
            i++;
        } else if (c > 0) {
            list_push(&add, n.v[j].backend, n.v[j].name, n.v[j].addr);
            j++;
        } else {
            i++;
            j++;
        }
    }
    d->kind = add.n || del.n ? LBDIFF_RUNTIME : LBDIFF_NONE;
    d->add = add.v;
    d->nadd = add.n;
    d->del = del.v;
    d->ndel = del.n;
out:
    free(ko);
    free(kn);
    list_cleanup(&o);
    list_cleanup(&n);
    return rc;
}

void lbdiff_cleanup(struct lbdiff *d)
{
    for (size_t k = 0; k < d->nadd; k++)
        server_free(&d->add[k]);
    for (size_t k = 0; k < d->ndel; k++)
        server_free(&d->del[k]);
    free(d->add);
    free(d->del);
    memset(d, 0, sizeof(*d));
}

static bool held(const char *const *draining, size_t ndraining, const struct lbdiff_server *s)
{
    char key[520];
    snprintf(key, sizeof(key), "%s/%s", s->backend, s->name);
    for (size_t k = 0; k < ndraining; k++) {
        if (strcmp(draining[k], key) == 0)
            return true;
    }
    return false;
}

char *lbdiff_commands(const struct lbdiff *d, const char *const *draining, size_t ndraining)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (f == NULL)
        abort();
    for (size_t k = 0; k < d->nadd; k++) {
        const struct lbdiff_server *s = &d->add[k];
        if (!held(draining, ndraining, s))
            fprintf(f, "add server %s/%s %s\n", s->backend, s->name, s->addr);
        fprintf(f, "set server %s/%s state ready\n", s->backend, s->name);
    }
    for (size_t k = 0; k < d->ndel; k++)
        fprintf(f, "set server %s/%s state drain\n", d->del[k].backend, d->del[k].name);
    fclose(f);
    return out;
}

char *lbdiff_remove_commands(const char *const *names, size_t n)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (f == NULL)
        abort();
    for (size_t k = 0; k < n; k++)
        fprintf(f, "set server %s state maint\nshutdown sessions server %s\ndel server %s\n",
                names[k], names[k], names[k]);
    fclose(f);
    return out;
}

/* The name of the section around line (1-based) of text, or of the
 * backend its use_backend line names; NULL when none (global, defaults). */
static char *blame_line(const char *text, long line)
{
    const char *p = text, *section = NULL;
    for (long n = 1; *p; n++) {
        if (*p != ' ' && *p != '#' && *p != '\n')
            section = p;
        if (n == line) {
            if (strncmp(p, "    use_backend ", 16) == 0)
                section = p + 4;
            break;
        }
        const char *e = strchr(p, '\n');
        if (e == NULL)
            return NULL;
        p = e + 1;
    }
    char kind[32], name[256];
    if (section == NULL || sscanf(section, "%31s %255s", kind, name) != 2)
        return NULL;
    if ((strcmp(kind, "frontend") != 0 && strcmp(kind, "backend") != 0 &&
         strcmp(kind, "use_backend") != 0) ||
        strcmp(name, "marathon_http_in") == 0)
        return NULL;
    return xstrdup(name);
}

/* Is name an app's frontend or backend section of text? */
static bool app_section(const char *text, const char *name)
{
    if (strcmp(name, "marathon_http_in") == 0)
        return false;
    char *fe = xasprintf("\nfrontend %s\n", name), *be = xasprintf("\nbackend %s\n", name);
    bool found = strstr(text, fe) != NULL || strstr(text, be) != NULL;
    free(fe);
    free(be);
    return found;
}

/* HAProxy's checks after parsing name no line but the proxy: "[ALERT]
 * ... : config : Proxy 'web_10001': ...". Blame the app sections quoted
 * in ALERT lines. */
static size_t blame_names(const char *text, const char *log, json_t *out)
{
    size_t added = 0;
    for (const char *p = log; (p = strstr(p, "[ALERT]")) != NULL; p++) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        char *line = xstrndup(p, n);
        const char *what = strstr(line, " : config : ");
        for (char *q = strchr(line, '\''); q != NULL; q = strchr(q + 1, '\'')) {
            char *close = strchr(q + 1, '\'');
            if (close == NULL)
                break;
            char *name = xstrndup(q + 1, (size_t)(close - q - 1));
            if (app_section(text, name) && json_object_get(out, name) == NULL) {
                json_object_set_new(out, name, json_string(what ? what + 12 : line));
                added++;
            }
            free(name);
            q = close;
        }
        free(line);
    }
    return added;
}

size_t lbdiff_blame(const char *text, const char *log, const char *path, json_t *out)
{
    size_t added = 0, plen = strlen(path);
    for (const char *p = log; (p = strstr(p, path)) != NULL; p += plen) {
        if (p[plen] != ':')
            continue;
        char *end;
        long line = strtol(p + plen + 1, &end, 10);
        if (end == p + plen + 1 || line <= 0)
            continue;
        char *name = blame_line(text, line);
        if (name == NULL || json_object_get(out, name) != NULL) {
            free(name);
            continue;
        }
        const char *bol = p;
        while (bol > log && bol[-1] != '\n')
            bol--;
        /* "[ALERT]    (pid) : config : parsing [...]": from "parsing". */
        const char *what = strstr(bol, " : config : ");
        if (what != NULL && what < p)
            bol = what + 12;
        const char *eol = strchr(p, '\n');
        char *why = eol ? xstrndup(bol, (size_t)(eol - bol)) : xstrdup(bol);
        json_object_set_new(out, name, json_string(why));
        free(why);
        free(name);
        added++;
    }
    if (added == 0)
        added = blame_names(text, log, out);
    return added;
}

/* The ports text binds ("    bind <addr>:<port>" lines), one bit each:
 * read once, not once for each frontend of the new text (1,000
 * frontends over a 600 kB text took half a second). */
/* The address and port of a bind line's first word, "<addr>:<port>"
 * (a ':' may be in the address: "[::1]:80"), from a (after "bind ") to
 * the end of the line e; what follows it ("ssl crt <file>", options) is
 * not the address. false when the word is not that. */
static bool bind_word(const char *a, const char *e, char *addr, size_t addr_size, int *port)
{
    const char *w = a;
    while (w < e && *w != ' ')
        w++;
    const char *colon = NULL;
    for (const char *c = a; c < w; c++) {
        if (*c == ':')
            colon = c;
    }
    if (colon == NULL || colon + 1 == w || w - (colon + 1) > 5 || colon[1] == '0' ||
        (size_t)(colon - a) >= addr_size)
        return false;
    int n = 0;
    for (const char *c = colon + 1; c < w; c++) {
        if (*c < '0' || *c > '9')
            return false;
        n = n * 10 + (*c - '0');
    }
    if (n <= 0 || n >= 65536)
        return false;
    memcpy(addr, a, (size_t)(colon - a));
    addr[colon - a] = '\0';
    *port = n;
    return true;
}

static void bound_ports(const char *text, unsigned char *bits)
{
    for (const char *p = text; (p = strstr(p, "\n    bind ")) != NULL; p++) {
        const char *e = strchr(p + 1, '\n');
        if (e == NULL)
            e = p + strlen(p);
        char addr[256];
        int port;
        if (bind_word(p + 10, e, addr, sizeof(addr), &port))
            bits[port / 8] |= (unsigned char)(1u << (port % 8));
    }
}

size_t lbdiff_new_binds(const char *old_text, const char *new_text, json_t *out)
{
    size_t added = 0;
    unsigned char old_ports[65536 / 8] = { 0 };
    if (old_text != NULL)
        bound_ports(old_text, old_ports);
    for (const char *p = new_text; (p = strstr(p, "\nfrontend ")) != NULL; p++) {
        char name[256], addr[256], head[300];
        int port;
        const char *b = strchr(p + 1, '\n');
        /* sscanf reads its whole input first: give it the line alone. */
        if (b == NULL || (size_t)(b - p) >= sizeof(head))
            continue;
        memcpy(head, p, (size_t)(b - p));
        head[b - p] = '\0';
        if (sscanf(head, "\nfrontend %255s", name) != 1 || strncmp(b, "\n    bind ", 10) != 0)
            continue;
        const char *a = b + 10, *e = strchr(a, '\n');
        if (!bind_word(a, e != NULL ? e : a + strlen(a), addr, sizeof(addr), &port) ||
            (old_ports[port / 8] & (1u << (port % 8))))
            continue;
        json_array_append_new(
            out, json_pack("{s:s,s:s,s:i}", "frontend", name, "addr", addr, "port", port));
        added++;
    }
    return added;
}
