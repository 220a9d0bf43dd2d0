/*
 * runtime: a client of HAProxy's admin socket (the runtime API), on the
 * daemon's event loop.
 *
 * A batch is a list of commands, one a line. It is sent in one or more
 * connections (non-interactive mode: HAProxy runs one line of commands
 * separated by ';', answers, and closes), each line at most
 * RUNTIME_MAX_LINE bytes so that it fits HAProxy's buffer. The answers of
 * every connection are concatenated and handed to the batch's callback,
 * or NULL when a connection failed (socket missing, timeout, too long an
 * answer). Batches run one after the other, in submission order, so a
 * drain and a later delete of the same server never cross.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "log.h"
#include "mem.h"
#include "pacer_lb.h"

#define RUNTIME_MAX_LINE 8000
#define RUNTIME_MAX_ANSWER (4 * 1024 * 1024)
#define RUNTIME_TIMEOUT_SECS 5

struct batch {
    struct batch *next;
    char *commands; /* remaining, one a line */
    char *answer;   /* concatenated answers so far */
    size_t answer_len;
    runtime_done_fn fn;
    void *arg;
};

struct runtime {
    struct event_base *base;
    char *path;
    struct batch *head, *tail; /* head is running when bev != NULL */
    struct bufferevent *bev;
    struct event *kick; /* starts the next connection outside callbacks */
};

static void batch_free(struct batch *b)
{
    free(b->commands);
    free(b->answer);
    free(b);
}

/* Finish the head batch with its answer (NULL: failed). */
static void finish(struct runtime *rt, bool ok)
{
    struct batch *b = rt->head;
    rt->head = b->next;
    if (rt->head == NULL)
        rt->tail = NULL;
    if (rt->bev != NULL) {
        bufferevent_free(rt->bev);
        rt->bev = NULL;
    }
    b->fn(ok ? (b->answer ? b->answer : "") : NULL, b->arg);
    batch_free(b);
    if (rt->head != NULL)
        event_active(rt->kick, EV_TIMEOUT, 0);
}

/* The next line of at most RUNTIME_MAX_LINE bytes of commands joined by
 * ';' (caller frees), consuming them from b->commands; NULL when none. */
static char *next_line(struct batch *b)
{
    char *p = b->commands;
    while (*p == '\n')
        p++;
    if (*p == '\0')
        return NULL;
    size_t used = 0;
    char *line = xmalloc(RUNTIME_MAX_LINE + 2);
    while (*p) {
        char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 0 && used > 0 && used + 1 + n > RUNTIME_MAX_LINE)
            break;
        if (n > 0) {
            if (used > 0)
                line[used++] = ';';
            size_t take = n > RUNTIME_MAX_LINE ? RUNTIME_MAX_LINE : n;
            memcpy(line + used, p, take);
            used += take;
        }
        p += n;
        if (*p == '\n')
            p++;
    }
    line[used++] = '\n';
    line[used] = '\0';
    memmove(b->commands, p, strlen(p) + 1);
    return line;
}

static void start(struct runtime *rt);

static void on_read(struct bufferevent *bev, void *arg)
{
    struct runtime *rt = arg;
    struct batch *b = rt->head;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in);
    if (b->answer_len + n > RUNTIME_MAX_ANSWER) {
        log_error("haproxy runtime API: answer over %d bytes", RUNTIME_MAX_ANSWER);
        finish(rt, false);
        return;
    }
    b->answer = xrealloc(b->answer, b->answer_len + n + 1);
    evbuffer_remove(in, b->answer + b->answer_len, n);
    b->answer_len += n;
    b->answer[b->answer_len] = '\0';
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct runtime *rt = arg;
    if (what & BEV_EVENT_CONNECTED)
        return;
    if (what & BEV_EVENT_EOF) {
        on_read(bev, rt);
        if (rt->head == NULL || rt->bev == NULL)
            return;
        bufferevent_free(rt->bev);
        rt->bev = NULL;
        if (rt->head->commands[strspn(rt->head->commands, "\n")] == '\0')
            finish(rt, true);
        else
            event_active(rt->kick, EV_TIMEOUT, 0);
        return;
    }
    log_warn("haproxy runtime API on %s: %s", rt->path,
             (what & BEV_EVENT_TIMEOUT) ? "timed out" : strerror(EVUTIL_SOCKET_ERROR()));
    finish(rt, false);
}

static void start(struct runtime *rt)
{
    struct batch *b = rt->head;
    if (b == NULL || rt->bev != NULL)
        return;
    char *line = next_line(b);
    if (line == NULL) {
        finish(rt, true);
        return;
    }
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    if (strlen(rt->path) >= sizeof(sun.sun_path)) {
        log_error("haproxy runtime API: socket path too long: %s", rt->path);
        free(line);
        finish(rt, false);
        return;
    }
    strcpy(sun.sun_path, rt->path);
    rt->bev = bufferevent_socket_new(rt->base, -1, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(rt->bev, on_read, NULL, on_event, rt);
    struct timeval tv = { RUNTIME_TIMEOUT_SECS, 0 };
    bufferevent_set_timeouts(rt->bev, &tv, &tv);
    bufferevent_write(rt->bev, line, strlen(line));
    free(line);
    bufferevent_enable(rt->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(rt->bev, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        /* The bufferevent is freed by finish(). */
        log_debug("haproxy runtime API: cannot connect to %s", rt->path);
        finish(rt, false);
    }
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start(arg);
}

struct runtime *runtime_new(struct event_base *base, const char *socket_path)
{
    struct runtime *rt = xcalloc(1, sizeof(*rt));
    rt->base = base;
    rt->path = xstrdup(socket_path);
    rt->kick = event_new(base, -1, 0, on_kick, rt);
    return rt;
}

void runtime_send(struct runtime *rt, const char *commands, runtime_done_fn fn, void *arg)
{
    struct batch *b = xcalloc(1, sizeof(*b));
    b->commands = xstrdup(commands);
    b->fn = fn;
    b->arg = arg;
    if (rt->tail != NULL)
        rt->tail->next = b;
    else
        rt->head = b;
    rt->tail = b;
    if (rt->bev == NULL)
        event_active(rt->kick, EV_TIMEOUT, 0);
}

bool runtime_busy(const struct runtime *rt)
{
    return rt->head != NULL;
}

/* Pending batches are dropped without their callbacks. */
void runtime_free(struct runtime *rt)
{
    if (rt == NULL)
        return;
    if (rt->bev != NULL)
        bufferevent_free(rt->bev);
    while (rt->head != NULL) {
        struct batch *b = rt->head;
        rt->head = b->next;
        batch_free(b);
    }
    event_free(rt->kick);
    free(rt->path);
    free(rt);
}
