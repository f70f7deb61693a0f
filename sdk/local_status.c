/* SPDX-License-Identifier: Apache-2.0
 *
 * local_status.c: a running driver answers `rayc status` and `rayc list
 * tasks|objects` on its own machine, with or without a cluster: a Unix
 * socket <temp dir>/drivers/PID.sock (the temp dir: RAYC_TEMP_DIR, else
 * /tmp/rayc-UID; the directory 0700, so only this user reaches it),
 * served by one thread that sleeps in accept() and costs nothing
 * otherwise. A request is one line, answered and the connection closed:
 *   status   "PROGRAM STARTED CPUS\n" (the executable's name, when
 *            ray_init ran in Unix seconds, the task workers), then the
 *            driver's ray_metrics text
 *   tasks    a line with their count, then rows (sdk/state.c's format)
 *   objects  the same for its objects
 *   actors   the same for its actors
 *   placement-groups  the same for its placement groups
 * The request must come within 2 s. ray_shutdown stops the thread and
 * removes the socket; one left by a process that died is removed by the
 * next `rayc status` that finds no process behind it. Agents (a driver's
 * program run by a raylet) serve none. RAYC_STATUS_SOCKET=0 turns it off.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/files.h"
#include "runtime/text.h"
#include "sdk/sdk_int.h"
#include "sdk/state.h"

#define ROWS_MAX 10000

bool sdk_agent_mode;
uint64_t sdk_agent_tag;

static struct {
    int fd;
    pthread_t thread;
    bool started;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char head[PATH_MAX + 64]; /* "PROGRAM STARTED CPUS\n" */
} g = {.fd = -1};

static void
answer(int c)
{
    char req[32] = "";
    size_t k = 0;
    struct pollfd p = {.fd = c, .events = POLLIN};
    while (k + 1 < sizeof(req) && !memchr(req, '\n', k) &&
           poll(&p, 1, 2000) == 1) {
        ssize_t n = read(c, req + k, sizeof(req) - 1 - k);
        if (n <= 0)
            break;
        k += (size_t)n;
    }
    req[k] = 0;
    req[strcspn(req, "\r\n")] = 0;
    rt_text t = {0}, rows = {0};
    if (!strcmp(req, "status")) {
        char *m = NULL;
        rt_text_put(&t, "%s", g.head);
        if (ray_metrics(&m) == RAY_OK && m)
            rt_text_put(&t, "%s", m);
        ray_free(m);
    } else if (!strcmp(req, "tasks") || !strcmp(req, "objects") ||
               !strcmp(req, "actors") || !strcmp(req, "placement-groups")) {
        size_t n = req[0] == 't'   ? sdk_state_tasks(&rows, ROWS_MAX, "-")
                   : req[0] == 'o' ? sdk_state_objects(&rows, ROWS_MAX)
                   : req[0] == 'a' ? sdk_state_actors(&rows, ROWS_MAX, "-")
                                   : sdk_pg_rows(&rows, ROWS_MAX, "-");
        rt_text_put(&t, "%zu\n", n);
        if (rows.p)
            rt_text_putn(&t, rows.p, rows.n);
    } else {
        rt_text_put(&t, "?%s\n", req);
    }
    for (size_t off = 0; t.p && off < t.n;) {
        ssize_t w = send(c, t.p + off, t.n - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    rt_free(t.p);
    rt_free(rows.p);
}

static void *
serve(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept4(g.fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return NULL; /* shut down */
        }
        answer(c);
        close(c);
    }
}

void
sdk_local_status_start(const ray_config *cfg)
{
    const char *off = getenv("RAYC_STATUS_SOCKET");
    if (sdk_agent_mode || g.started || (off && !strcmp(off, "0")))
        return;
    const char *td = getenv("RAYC_TEMP_DIR");
    char dir[PATH_MAX];
    if (td && *td)
        snprintf(dir, sizeof(dir), "%s/drivers", td);
    else
        snprintf(dir, sizeof(dir), "/tmp/rayc-%u/drivers", (unsigned)getuid());
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (rt_mkdir_p(dir, 0700) != 0 ||
        (size_t)snprintf(g.path, sizeof(g.path), "%s/%d.sock", dir,
                         (int)getpid()) >= sizeof(g.path))
        return; /* no status socket: nothing else is lost */
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", g.path);
    unlink(g.path); /* a dead process's of the same pid */
    g.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (g.fd < 0 || bind(g.fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        chmod(g.path, 0600) != 0 || listen(g.fd, 8) != 0) {
        if (g.fd >= 0)
            close(g.fd);
        g.fd = -1;
        return;
    }
    char self[PATH_MAX] = "";
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[n > 0 ? n : 0] = 0;
    const char *base = strrchr(self, '/');
    snprintf(g.head, sizeof(g.head), "%s %lld %d\n", base ? base + 1 : "?",
             (long long)time(NULL), cfg->num_cpus);
    g.started = pthread_create(&g.thread, NULL, serve, NULL) == 0;
    if (!g.started) {
        close(g.fd);
        g.fd = -1;
        unlink(g.path);
    }
}

void
sdk_local_status_stop(void)
{
    if (!g.started)
        return;
    shutdown(g.fd, SHUT_RDWR); /* accept() returns: the thread ends */
    pthread_join(g.thread, NULL);
    close(g.fd);
    unlink(g.path);
    g.fd = -1;
    g.started = false;
}
