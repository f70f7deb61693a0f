/* SPDX-License-Identifier: Apache-2.0
 *
 * node_store.c: bring-up and tear-down of a local runtime's object store:
 * the private directory, the reaper process and the store server.
 *
 * The reaper is posix_spawn'ed (vfork-based: no copy of the driver's
 * address space, and every close-on-exec descriptor, the region's memfd
 * among them, stays behind) with only the pipe's read end. It costs one
 * exec of the driver's binary, once per runtime, when the store first
 * starts. Single-threaded use (the caller serialises start and stop).
 */
#include "runtime/core_worker/node_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "objectstore/store.h"
#include "runtime/alloc.h"

extern char **environ;

#define DIR_MAX 96

struct cw_node_store {
    char dir[DIR_MAX];        /* the private directory */
    char sock[DIR_MAX + 16];  /* dir/store.sock */
    char spill[DIR_MAX + 16]; /* dir/spill */
    store_server *srv;
    store_client *client;
    pid_t reaper;  /* 0 if none */
    int reaper_fd; /* write end of the reaper's pipe, or -1 */
};

/* ---- the directory ---- */

/* Remove `path` and, for a directory, what it holds (two levels deep
 * at most: the socket and the spill files). */
static void
remove_tree(const char *path, int depth)
{
    DIR *d = depth < 3 ? opendir(path) : NULL;
    if (!d) {
        if (unlink(path) != 0 && errno == EISDIR)
            rmdir(path);
        return;
    }
    struct dirent *e;
    char sub[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        if (e->d_type == DT_DIR)
            remove_tree(sub, depth + 1);
        else
            unlink(sub);
    }
    closedir(d);
    rmdir(path);
}

static ray_err
make_dir(cw_node_store *ns, char *err, size_t errlen)
{
    const char *base = getenv("TMPDIR");
    if (!base || base[0] != '/' || strlen(base) > 48)
        base = "/tmp";
    snprintf(ns->dir, sizeof(ns->dir), "%s/rayc-%d-XXXXXX", base,
             (int)getpid());
    if (!mkdtemp(ns->dir)) {
        int e = errno;
        snprintf(err, errlen, "cannot create a private directory in %s: %s",
                 base, strerror(e));
        ns->dir[0] = '\0';
        return rt_err_from_errno(e);
    }
    snprintf(ns->sock, sizeof(ns->sock), "%s/store.sock", ns->dir);
    snprintf(ns->spill, sizeof(ns->spill), "%s/spill", ns->dir);
    return RAY_OK;
}

/* ---- the reaper ---- */

static ray_err
spawn_reaper(cw_node_store *ns, char *err, size_t errlen)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        int e = errno;
        snprintf(err, errlen, "pipe: %s", strerror(e));
        return rt_err_from_errno(e);
    }
    if (p[0] < 3) { /* keep clear of the stdio the child redirects */
        int hi = fcntl(p[0], F_DUPFD_CLOEXEC, 3);
        int e = errno;
        close(p[0]);
        p[0] = hi;
        if (hi < 0) {
            close(p[1]);
            snprintf(err, errlen, "fcntl: %s", strerror(e));
            return rt_err_from_errno(e);
        }
    }
    char var[sizeof(CW_REAPER_ENV) + DIR_MAX + 16];
    snprintf(var, sizeof(var), CW_REAPER_ENV "=%d:%s", p[0], ns->dir);
    size_t n = 0;
    while (environ && environ[n])
        n++;
    char **envp = rt_calloc(n + 2, sizeof(char *));
    if (!envp) {
        close(p[0]);
        close(p[1]);
        snprintf(err, errlen, "out of memory");
        return RAY_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        envp[i] = environ[i];
    envp[n] = var;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    /* dup2 onto itself clears close-on-exec for the read end only; the
     * driver's stdio stays with the driver (a pipe reader waiting for
     * EOF must not wait for the reaper). */
    posix_spawn_file_actions_adddup2(&fa, p[0], p[0]);
    for (int fd = 0; fd < 3; fd++)
        posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", O_RDWR, 0);
    char *argv[] = {"rayc-store-reaper", NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    rt_free(envp);
    close(p[0]);
    if (rc != 0) {
        close(p[1]);
        snprintf(err, errlen, "cannot start the store's reaper: %s",
                 strerror(rc));
        return rt_err_from_errno(rc);
    }
    ns->reaper = pid;
    ns->reaper_fd = p[1];
    return RAY_OK;
}

/* Let the reaper go (it exits when its pipe closes) and collect it,
 * killing it after a second. */
static void
stop_reaper(cw_node_store *ns)
{
    if (ns->reaper_fd >= 0)
        close(ns->reaper_fd);
    ns->reaper_fd = -1;
    if (ns->reaper <= 0)
        return;
    for (int i = 0; i < 1000; i++) {
        pid_t r = waitpid(ns->reaper, NULL, WNOHANG);
        if (r == ns->reaper || (r < 0 && errno != EINTR)) {
            ns->reaper = 0;
            return;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    kill(ns->reaper, SIGKILL);
    waitpid(ns->reaper, NULL, 0);
    ns->reaper = 0;
}

_Noreturn void
cw_node_store_reaper_main(const char *spec)
{
    int fd = -1;
    char dir[DIR_MAX + 1] = "";
    const char *colon = strchr(spec, ':');
    if (colon && strlen(colon + 1) < sizeof(dir)) {
        fd = atoi(spec);
        strcpy(dir, colon + 1);
    }
    /* Outlive the driver's process group's terminal signals. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    if (fd < 0 ||
        strncmp(strrchr(dir, '/') ? strrchr(dir, '/') : "", "/rayc-", 6) != 0)
        _exit(120);
    for (;;) {
        char b;
        ssize_t r = read(fd, &b, 1);
        if (r == 0 || (r < 0 && errno != EINTR))
            break;
    }
    remove_tree(dir, 0);
    _exit(0);
}

/* ---- API ---- */

ray_err
cw_node_store_start(uint64_t capacity, cw_node_store **out, char *err,
                    size_t errlen)
{
    cw_node_store *ns = rt_calloc(1, sizeof(*ns));
    if (!ns) {
        snprintf(err, errlen, "out of memory");
        return RAY_ENOMEM;
    }
    ns->reaper_fd = -1;
    ray_err e = make_dir(ns, err, errlen);
    if (e == RAY_OK)
        e = spawn_reaper(ns, err, errlen);
    if (e != RAY_OK)
        goto fail;
    store_config cfg;
    store_config_init(&cfg);
    cfg.capacity = capacity;
    cfg.socket_path = ns->sock;
    cfg.spill_dir = ns->spill;
    e = store_server_start(&cfg, &ns->srv, err, errlen);
    if (e != RAY_OK)
        goto fail;
    e = store_client_open_local(ns->srv, &ns->client);
    if (e != RAY_OK) {
        snprintf(err, errlen, "cannot open the store's local client: %s",
                 rt_strerror(e));
        goto fail;
    }
    *out = ns;
    return RAY_OK;
fail:
    cw_node_store_stop(ns);
    return e;
}

void
cw_node_store_stop(cw_node_store *ns)
{
    if (!ns)
        return;
    store_client_close(ns->client);
    store_server_stop(ns->srv);
    if (ns->dir[0])
        remove_tree(ns->dir, 0);
    stop_reaper(ns);
    rt_free(ns);
}

store_client *
cw_node_store_client(const cw_node_store *ns)
{
    return ns->client;
}

const char *
cw_node_store_socket(const cw_node_store *ns)
{
    return ns->sock;
}
