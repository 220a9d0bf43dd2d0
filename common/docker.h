/*
 * docker: a Docker Engine API client on the daemon's libevent loop.
 *
 * Requests go over the engine's unix socket with libcurl's multi-socket
 * interface, driven by the caller's event_base (curl's multi-event.c
 * pattern): nothing here blocks, no `docker` CLI is ever run. One client
 * per daemon; any number of requests in flight.
 *
 * Two kinds of request:
 *  - calls: the whole response body is collected (up to DOCKER_MAX_BODY)
 *    and handed to the callback once, parsed as JSON when it is JSON;
 *  - streams: the body is handed over piece by piece as it arrives
 *    (container logs, image pulls, exec output), then the callback runs
 *    once at the end.
 * The callback runs exactly once per request, on the loop, never inside
 * the function that started the request, unless the request is cancelled
 * first (then never). Requests of a freed client are cancelled.
 *
 * Log frames: an engine that does not allocate a TTY multiplexes stdout and
 * stderr in one body, each frame behind an 8-byte header (stream type,
 * three zero bytes, big-endian length); struct docker_demux splits them.
 */
#ifndef AGORA_DOCKER_H
#define AGORA_DOCKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct event_base;

/* The Engine API version Agora speaks (Docker 20.10, Debian 12's docker.io;
 * newer engines still accept it). */
#define DOCKER_API_VERSION "v1.41"
/* Largest non-streamed response body (container lists, inspects). */
#define DOCKER_MAX_BODY (8 * 1024 * 1024)

struct docker_client;
struct docker_call;

struct docker_response {
    int status;        /* HTTP status, 0 when there was no response */
    const char *error; /* transport error (status 0), else NULL */
    const char *body;  /* NUL-terminated, never NULL ("" for streams) */
    size_t len;
    json_t *json; /* body parsed as JSON, or NULL; borrowed */
};

typedef void (*docker_response_fn)(const struct docker_response *resp, void *arg);
/* A piece of a streamed body. Return 0 to go on, -1 to abort the request
 * (its callback then runs with error "aborted"). */
typedef int (*docker_data_fn)(const char *data, size_t len, void *arg);

/* socket_path: the engine's unix socket (e.g. /var/run/docker.sock). */
struct docker_client *docker_client_new(struct event_base *base, const char *socket_path);
/* Cancels every request in flight (their callbacks do not run). */
void docker_client_free(struct docker_client *dc);
const char *docker_client_socket(const struct docker_client *dc);

/* Whether something accepts connections on the socket right now (a
 * nonblocking connect to a unix socket answers at once). */
bool docker_socket_answers(const char *socket_path);

/* method: GET, POST, DELETE. path: below the API version, e.g.
 * "/containers/json?all=1" (the caller escapes query values, see
 * docker_escape). body: JSON sent with Content-Type application/json, or
 * NULL (borrowed). timeout_secs: whole request, 0 = none (waits, logs).
 * Returns the request handle (valid until the callback runs). */
struct docker_call *docker_call(struct docker_client *dc, const char *method, const char *path,
                                json_t *body, double timeout_secs, docker_response_fn cb,
                                void *arg);
/* The same, but on_data receives the body as it arrives; the final
 * response has an empty body (except for a non-2xx status, whose short
 * error body is collected instead of streamed). */
struct docker_call *docker_stream(struct docker_client *dc, const char *method, const char *path,
                                  json_t *body, double timeout_secs, docker_data_fn on_data,
                                  docker_response_fn cb, void *arg);
/* Forget a request: its callbacks will not run. Safe from any callback. */
void docker_call_cancel(struct docker_call *c);

/* The engine's message of an error response ({"message": ...}), the
 * transport error, or "HTTP <status>". Caller frees. */
char *docker_error_message(const struct docker_response *resp);

/* Percent-encode a query value. Caller frees. */
char *docker_escape(const char *s);

/* Split "repo[:tag]" / "repo@digest" into fromImage and tag for a pull
 * (tag "latest" when none; empty tag for a digest). Caller frees both. */
void docker_image_split(const char *image, char **repo, char **tag);

/* ------------------------------------------------------------ log frames */

enum docker_demux_state {
    DOCKER_DEMUX_HEADER = 0, /* collecting the 8-byte header */
    DOCKER_DEMUX_PAYLOAD,    /* handing out the frame's payload */
};

/* stream: 1 stdout, 2 stderr (0 stdin, never sent). */
typedef void (*docker_frame_fn)(int stream, const char *data, size_t len, void *arg);

struct docker_demux {
    enum docker_demux_state state;
    unsigned char header[8];
    size_t have;   /* header bytes collected */
    int stream;    /* current frame's stream */
    uint32_t left; /* payload bytes still due in this frame */
};

void docker_demux_init(struct docker_demux *d);
/* Feed any split of the body; fn gets payload pieces (a frame may come in
 * several pieces). Never fails: unknown stream types are passed on. */
void docker_demux_feed(struct docker_demux *d, const char *data, size_t len, docker_frame_fn fn,
                       void *arg);

#endif
