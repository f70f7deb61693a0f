/* SPDX-License-Identifier: Apache-2.0
 *
 * rayc_local.c: `rayc status` and `rayc list tasks|objects` for the
 * drivers running on this machine when there is no cluster to ask: each
 * driver answers on its socket <temp dir>/drivers/PID.sock
 * (sdk/local_status.c says the requests). A socket whose process is gone
 * is removed.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/text.h"
#include "scheduler/cluster/rayc_cli.h"

#define ASK_MS 5000

/* What driver `pid` (its socket at path) answers to `req`, into t. */
static bool
ask(const char *path, const char *req, rt_text *t)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(a.sun_path))
        return false;
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
        if (fd >= 0)
            close(fd);
        return false;
    }
    int64_t deadline = rt_deadline_after_ms(ASK_MS);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char buf[65536];
    bool done = false;
    while (!done && rt_deadline_left_ms(deadline) > 0 &&
           poll(&p, 1, (int)rt_deadline_left_ms(deadline)) == 1) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0)
            rt_text_putn(t, buf, (size_t)n);
        done = n <= 0;
    }
    close(fd);
    return done && !t->oom;
}

int
rayc_local_drivers(const opts *o, const char *req, rayc_local *out)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/drivers", o->temp_dir);
    memset(out, 0, sizeof(*out));
    DIR *d = opendir(dir);
    struct dirent *e;
    char line[32];
    snprintf(line, sizeof(line), "%s\n", req);
    while (d && (e = readdir(d)) && out->n < RAYC_LOCAL_MAX) {
        char *end = NULL;
        long pid = strtol(e->d_name, &end, 10);
        if (pid <= 0 || !end || strcmp(end, ".sock") != 0)
            continue;
        char path[PATH_MAX + 300];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
            unlink(path); /* its driver died without removing it */
            continue;
        }
        rayc_local_driver *l = &out->d[out->n];
        memset(l, 0, sizeof(*l));
        l->pid = (int)pid;
        if (ask(path, line, &l->text))
            out->n++;
        else
            rt_free(l->text.p);
    }
    if (d)
        closedir(d);
    return (int)out->n;
}

void
rayc_local_free(rayc_local *l)
{
    for (size_t i = 0; i < l->n; i++)
        rt_free(l->d[i].text.p);
    l->n = 0;
}

/* The value of series `name` (its labels included) in metrics text m. */
static double
metric(const char *m, const char *name)
{
    return cl_metric_value(m, strlen(m), name);
}

static const char *const task_states[] = {
    "PENDING_ARGS_AVAIL", "PENDING_NODE_ASSIGNMENT", "SUBMITTED_TO_WORKER"};

int
rayc_local_status(const opts *o)
{
    rayc_local l;
    bool json = o->format && !strcmp(o->format, "json");
    if (rayc_local_drivers(o, "status", &l) == 0) {
        fprintf(stderr,
                "rayc status: no cluster (give --address or RAY_ADDRESS, or "
                "start a head on this machine) and no driver running here "
                "(under %s)\n",
                o->temp_dir);
        return 1;
    }
    if (json)
        printf("{\"drivers\":[");
    else
        printf("%zu driver%s on this machine, no cluster:\n", l.n,
               l.n == 1 ? "" : "s");
    for (size_t i = 0; i < l.n; i++) {
        const char *t = l.d[i].text.p;
        char prog[256] = "?";
        long long started = 0;
        int cpus = 0;
        sscanf(t, "%255s %lld %d", prog, &started, &cpus);
        const char *m = strchr(t, '\n');
        m = m ? m + 1 : "";
        char series[96];
        double state[3];
        for (int k = 0; k < 3; k++) {
            snprintf(series, sizeof(series), "rayc_tasks{state=\"%s\"}",
                     task_states[k]);
            state[k] = metric(m, series);
        }
        double ok = metric(m, "rayc_tasks_finished_total{result=\"ok\"}");
        double bad = metric(m, "rayc_tasks_finished_total{result=\"error\"}");
        double busy = metric(m, "rayc_workers{state=\"alive\"}");
        double store = metric(m, "rayc_object_store_bytes");
        double sobj = metric(m, "rayc_object_store_objects");
        double objs = metric(m, "rayc_objects");
        double actors = metric(m, "rayc_actors_live");
        long long up = started ? (long long)time(NULL) - started : 0;
        if (json) {
            printf("%s{\"pid\":%d,\"program\":\"%s\",\"running_s\":%lld,"
                   "\"cpus\":%d,\"workers\":%.0f,\"tasks\":{",
                   i ? "," : "", l.d[i].pid, prog, up, cpus, busy);
            for (int k = 0; k < 3; k++)
                printf("%s\"%s\":%.0f", k ? "," : "", task_states[k], state[k]);
            printf("},\"finished\":%.0f,\"failed\":%.0f,\"actors\":%.0f,"
                   "\"objects\":%.0f,\"object_store_bytes\":%.0f,"
                   "\"object_store_objects\":%.0f}",
                   ok, bad, actors, objs, store, sobj);
            continue;
        }
        printf("  driver %d (%s), running %llds: %d CPUs, %.0f workers\n"
               "    tasks: %.0f waiting for arguments, %.0f queued, %.0f at "
               "a worker; %.0f finished, %.0f failed\n"
               "    actors: %.0f; objects: %.0f; object store: %.1f MiB in "
               "%.0f objects\n",
               l.d[i].pid, prog, up, cpus, busy, state[0], state[1], state[2],
               ok, bad, actors, objs, store / (1 << 20), sobj);
    }
    if (json)
        printf("]}\n");
    rayc_local_free(&l);
    return 0;
}
