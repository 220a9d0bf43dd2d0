/*
 * templates: the pieces of the HAProxy configuration an operator (from
 * --templates_dir) or an app (from its labels) may replace, with
 * marathon-lb's names and its syntax, so that templates written for
 * marathon-lb keep working.
 *
 * A template is text with {name} variables ("{backend}", "{servicePort}",
 * ...); "{{" and "}}" stand for a literal brace, as in marathon-lb's Python
 * format strings (HAProxy's anonymous ACLs are "{{ ssl_fc }}" there). A
 * variable the piece does not have is an error, not an empty string.
 *
 * --templates_dir=DIR: DIR/HAPROXY_<NAME> replaces the default of <NAME>
 * for every app (the operator's own text: any HAProxy it wants). An app's
 * label HAPROXY_<i>_<NAME> replaces the overridable ones for its port i;
 * the app's owner is not the operator, so such a text may not open a
 * section of its own (only FRONTEND_HEAD and BACKEND_HEAD open theirs, the
 * one the app's port is given): one app cannot add frontends, backends or
 * global settings, or reach into another app's routing.
 *
 * Whatever a template says, the output is normalised: section lines at
 * column 0, every other line indented by four spaces, the shape the rest
 * of pacer-lb reads (diff.c splits servers from the skeleton by it).
 * Server lines are pacer-lb's own (the runtime API adds and removes them
 * by name), so BACKEND_SERVER_OPTIONS is not a template here.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "mem.h"
#include "pacer_lb.h"

static const struct {
    const char *name;
    bool per_app; /* HAPROXY_<i>_<name> labels may replace it */
    const char *text;
} defaults[LBTMPL_COUNT] = {
    [LBTMPL_HEAD] = { "HEAD", false,
                      "global\n"
                      "  maxconn {maxconn}\n"
                      "  hard-stop-after 30s\n"
                      "\n"
                      "defaults\n"
                      "  mode tcp\n"
                      "  option redispatch 1\n"
                      "  retries 3\n"
                      "  timeout connect 5s\n"
                      "  timeout client 60s\n"
                      "  timeout server 60s\n"
                      "  timeout queue 30s\n" },
    [LBTMPL_HTTP_FRONTEND_HEAD] = { "HTTP_FRONTEND_HEAD", false,
                                    "\nfrontend marathon_http_in\n"
                                    "  bind {bindAddr}:{httpPort}\n"
                                    "  mode http\n" },
    [LBTMPL_FRONTEND_HEAD] = { "FRONTEND_HEAD", true,
                               "\nfrontend {backend}\n"
                               "  bind {bindAddr}:{servicePort}{sslCert}{bindOptions}\n"
                               "  mode {mode}\n" },
    [LBTMPL_FRONTEND_BACKEND_GLUE] = { "FRONTEND_BACKEND_GLUE", true,
                                       "  default_backend {backend}\n" },
    [LBTMPL_BACKEND_HEAD] = { "BACKEND_HEAD", true,
                              "\nbackend {backend}\n"
                              "  mode {mode}\n"
                              "  balance {balance}\n" },
    [LBTMPL_BACKEND_STICKY_OPTIONS] = { "BACKEND_STICKY_OPTIONS", true,
                                        "  cookie mesosphere_server_id insert indirect nocache\n" },
};

struct lbtmpl {
    char *text[LBTMPL_COUNT]; /* from --templates_dir; NULL: the default */
};

const char *lbtmpl_name(enum lbtmpl_id id)
{
    return defaults[id].name;
}

bool lbtmpl_per_app(enum lbtmpl_id id)
{
    return defaults[id].per_app;
}

const char *lbtmpl_get(const struct lbtmpl *t, enum lbtmpl_id id)
{
    return t != NULL && t->text[id] != NULL ? t->text[id] : defaults[id].text;
}

static const char *const section_words[] = { "global",      "defaults", "frontend", "backend",
                                             "listen",      "userlist", "peers",    "resolvers",
                                             "mailers",     "program",  "ring",     "cache",
                                             "http-errors", "fcgi-app", NULL };

/* Does the (trimmed) line open a section? */
static bool opens_section(const char *line, size_t n)
{
    for (size_t k = 0; section_words[k] != NULL; k++) {
        size_t w = strlen(section_words[k]);
        if (n >= w && memcmp(line, section_words[k], w) == 0 &&
            (n == w || line[w] == ' ' || line[w] == '\t'))
            return true;
    }
    return false;
}

/* Expand t into a string; NULL and *err on an unknown variable or a
 * stray brace. */
static char *substitute(const char *t, const struct lbtmpl_var *vars, size_t nvars, char **err)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (f == NULL)
        abort();
    for (const char *p = t; *p; p++) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            fputc(*p++, f);
            continue;
        }
        if (*p == '}') {
            *err = xstrdup("a single '}' (write '}}' for a brace)");
            goto fail;
        }
        if (*p != '{') {
            fputc(*p, f);
            continue;
        }
        const char *e = strchr(p, '}');
        size_t n = e != NULL ? (size_t)(e - p - 1) : 0;
        const struct lbtmpl_var *v = NULL;
        for (size_t k = 0; e != NULL && k < nvars && v == NULL; k++) {
            if (strlen(vars[k].name) == n && memcmp(vars[k].name, p + 1, n) == 0)
                v = &vars[k];
        }
        if (v == NULL) {
            int shown = e != NULL && n < 40 ? (int)n : 0;
            *err = e != NULL ? xasprintf("unknown variable {%.*s}%s", shown, p + 1,
                                         shown < (int)n ? "..." : "")
                             : xstrdup("a '{' without its '}' (write '{{' for a brace)");
            goto fail;
        }
        fputs(v->value, f);
        p = e;
    }
    fclose(f);
    return out;
fail:
    fclose(f);
    free(out);
    return NULL;
}

int lbtmpl_expand(FILE *f, const char *t, const struct lbtmpl_var *vars, size_t nvars,
                  const char *own_section, char **err)
{
    char *text = substitute(t, vars, nvars, err);
    if (text == NULL)
        return -1;
    /* Checked whole before anything is written: a refused template writes
     * nothing. */
    bool first = true;
    for (int pass = 0; pass < 2; pass++) {
        for (const char *p = text; *p;) {
            const char *e = strchr(p, '\n');
            size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
            const char *s = p, *end = p + n;
            while (s < end && (*s == ' ' || *s == '\t'))
                s++;
            while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
                end--;
            size_t m = (size_t)(end - s);
            bool section = opens_section(s, m);
            p = e != NULL ? e + 1 : p + n;
            if (pass == 1) {
                if (m == 0)
                    fputc('\n', f);
                else
                    fprintf(f, "%s%.*s\n", section ? "" : "    ", (int)m, s);
                continue;
            }
            if (own_section == NULL || m == 0)
                continue;
            /* An app's text: its own section first (else its lines would
             * land in the section before it, another app's), no other. */
            bool own = first && own_section[0] != '\0' && strlen(own_section) == m &&
                       memcmp(s, own_section, m) == 0;
            if ((section || (first && own_section[0] != '\0')) && !own) {
                *err = own_section[0] != '\0'
                           ? xasprintf("must open \"%s\" on its first line and no other "
                                       "section (found \"%.*s\")",
                                       own_section, (int)(m < 60 ? m : 60), s)
                           : xasprintf("may not open a section (found \"%.*s\")",
                                       (int)(m < 60 ? m : 60), s);
                free(text);
                return -1;
            }
            first = false;
        }
        if (pass == 0 && first && own_section != NULL && own_section[0] != '\0') {
            /* Empty: the lines after it would join the section before. */
            *err = xasprintf("must open \"%s\" on its first line (found nothing)", own_section);
            free(text);
            return -1;
        }
    }
    free(text);
    return 0;
}

/* Variables every template may name, with values that are syntactically
 * fine: what --templates_dir's files are checked against at start. */
static const struct lbtmpl_var sample_vars[] = {
    { "maxconn", "1" },         { "bindAddr", "127.0.0.1" }, { "httpPort", "80" },
    { "backend", "app_10000" }, { "servicePort", "10000" },  { "sslCert", "" },
    { "bindOptions", "" },      { "mode", "tcp" },           { "balance", "roundrobin" },
    { "appId", "/app" },
};

/* Which variables each template has (a subset of sample_vars' names). */
static bool var_allowed(enum lbtmpl_id id, const char *name)
{
    if (strcmp(name, "maxconn") == 0)
        return id == LBTMPL_HEAD;
    if (strcmp(name, "httpPort") == 0)
        return id == LBTMPL_HTTP_FRONTEND_HEAD;
    if (strcmp(name, "bindAddr") == 0)
        return id != LBTMPL_HEAD;
    if (strcmp(name, "sslCert") == 0 || strcmp(name, "bindOptions") == 0)
        return id == LBTMPL_FRONTEND_HEAD;
    return id != LBTMPL_HEAD && id != LBTMPL_HTTP_FRONTEND_HEAD;
}

int lbtmpl_check(enum lbtmpl_id id, const char *text, char **err)
{
    struct lbtmpl_var vars[sizeof(sample_vars) / sizeof(sample_vars[0])];
    size_t n = 0;
    for (size_t k = 0; k < sizeof(sample_vars) / sizeof(sample_vars[0]); k++) {
        if (var_allowed(id, sample_vars[k].name))
            vars[n++] = sample_vars[k];
    }
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (f == NULL)
        abort();
    /* The per-app templates keep to their sections, as the labels must:
     * an empty FRONTEND_HEAD would put every app's bind line in the
     * backend before it. */
    const char *own = id == LBTMPL_FRONTEND_HEAD  ? "frontend app_10000"
                      : id == LBTMPL_BACKEND_HEAD ? "backend app_10000"
                      : id == LBTMPL_FRONTEND_BACKEND_GLUE || id == LBTMPL_BACKEND_STICKY_OPTIONS
                          ? ""
                          : NULL;
    int rc = lbtmpl_expand(f, text, vars, n, own, err);
    fclose(f);
    free(out);
    return rc;
}

struct lbtmpl *lbtmpl_load(const char *dir, char **err)
{
    struct lbtmpl *t = xcalloc(1, sizeof(*t));
    for (int id = 0; id < LBTMPL_COUNT; id++) {
        char *path = xasprintf("%s/HAPROXY_%s", dir, defaults[id].name);
        size_t len = 0;
        char *text = NULL, *cerr = NULL;
        if (file_read_all(path, 1 << 20, &text, &len) != 0 && errno == ENOENT) {
            free(path);
            continue;
        }
        if (text == NULL || strlen(text) != len || lbtmpl_check(id, text, &cerr) != 0) {
            *err = text == NULL ? xasprintf("--templates_dir: %s: %s", path, strerror(errno))
                   : strlen(text) != len ? xasprintf("--templates_dir: %s holds a NUL byte", path)
                                         : xasprintf("--templates_dir: %s: %s", path, cerr);
            free(cerr);
            free(text);
            free(path);
            lbtmpl_free(t);
            return NULL;
        }
        t->text[id] = text;
        free(path);
    }
    return t;
}

size_t lbtmpl_count(const struct lbtmpl *t)
{
    size_t n = 0;
    for (int id = 0; t != NULL && id < LBTMPL_COUNT; id++)
        n += t->text[id] != NULL;
    return n;
}

void lbtmpl_free(struct lbtmpl *t)
{
    if (t == NULL)
        return;
    for (int id = 0; id < LBTMPL_COUNT; id++)
        free(t->text[id]);
    free(t);
}
