/* SPDX-License-Identifier: Apache-2.0
 *
 * node_store.c: bring-up and tear-down of a local runtime's object store:
 * the private directory, the reaper process and the store server.
 *
 * The reaper is posix_spawn'ed (vfork-based: no copy of the driver's
 * address space, and every close-on-exec descriptor, the region's memfd
 * among them, stays behind) with only its spec memfd and the pipe's read
 * end, in a session of its own. It costs one exec of the driver's binary,
 * a memfd and a 64-byte token file, once per runtime, when the store
 * first starts. Single-threaded use (the caller serialises start and
 * stop).
 */
#include "objectstore/node_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "objectstore/store.h"
#include "runtime/alloc.h"
#include "runtime/random.h"

#define STORE_STR_(x) #x
#define STORE_STR(x) STORE_STR_(x)

extern char **environ;

#define DIR_MAX 96

struct store_node {
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
make_dir(store_node *ns, char *err, size_t errlen)
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

#define TOKEN_HEX 64 /* 256 random bits, as hex */

/* Move `fd` to a descriptor >= 10 (close-on-exec), so that the spawn's
 * dup2 onto STORE_REAPER_SPEC_FD and STORE_REAPER_PIPE_FD cannot clobber one
 * source with the other. Closes `fd`; -1 on failure. */
static int
fd_high(int fd)
{
    int hi = fcntl(fd, F_DUPFD_CLOEXEC, 10);
    close(fd);
    return hi;
}

/* Write the token file and the spec memfd for the reaper of ns->dir.
 * Returns the memfd (close-on-exec) or -1 with `err` set. */
static int
reaper_spec(store_node *ns, char *err, size_t errlen)
{
    uint8_t raw[TOKEN_HEX / 2];
    char token[TOKEN_HEX + 1];
    if (rt_random_os(raw, sizeof(raw)) != RAY_OK) {
        snprintf(err, errlen, "cannot draw the reaper's token");
        return -1;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(token + 2 * i, 3, "%02x", raw[i]);
    char path[DIR_MAX + 32];
    snprintf(path, sizeof(path), "%s/" STORE_REAPER_TOKEN_FILE, ns->dir);
    int tf =
        open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (tf < 0 || write(tf, token, TOKEN_HEX) != TOKEN_HEX) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        if (tf >= 0)
            close(tf);
        return -1;
    }
    close(tf);
    char spec[DIR_MAX + TOKEN_HEX + 16];
    int n = snprintf(spec, sizeof(spec), "v1\n%s\n%s\n", ns->dir, token);
    int mfd = memfd_create(STORE_REAPER_MEMFD_NAME, MFD_CLOEXEC);
    if (mfd < 0 || write(mfd, spec, (size_t)n) != n) {
        snprintf(err, errlen, "cannot pass the reaper its spec: %s",
                 strerror(errno));
        if (mfd >= 0)
            close(mfd);
        return -1;
    }
    return mfd;
}

/* Start the reaper: this executable again, with argv[0] STORE_REAPER_ARGV0,
 * the spec memfd on STORE_REAPER_SPEC_FD, the pipe's read end on
 * STORE_REAPER_PIPE_FD, /dev/null for stdio (a pipe reader waiting for the
 * driver's EOF must not wait for the reaper) and a session of its own
 * (POSIX_SPAWN_SETSID), so a kill of the driver's process group leaves it
 * to clean up. Every other descriptor is close-on-exec and stays behind. */
static ray_err
spawn_reaper(store_node *ns, char *err, size_t errlen)
{
    int p[2] = {-1, -1};
    int mfd = reaper_spec(ns, err, errlen);
    if (mfd < 0)
        return RAY_ESYSERR;
    if (pipe2(p, O_CLOEXEC) != 0) {
        int e = errno;
        close(mfd);
        snprintf(err, errlen, "pipe: %s", strerror(e));
        return rt_err_from_errno(e);
    }
    mfd = fd_high(mfd);
    p[0] = fd_high(p[0]);
    if (mfd < 0 || p[0] < 0) {
        int e = errno;
        if (mfd >= 0)
            close(mfd);
        if (p[0] >= 0)
            close(p[0]);
        close(p[1]);
        snprintf(err, errlen, "fcntl: %s", strerror(e));
        return rt_err_from_errno(e);
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, mfd, STORE_REAPER_SPEC_FD);
    posix_spawn_file_actions_adddup2(&fa, p[0], STORE_REAPER_PIPE_FD);
    for (int fd = 0; fd < 3; fd++)
        posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", O_RDWR, 0);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID);
    char *argv[] = {STORE_REAPER_ARGV0, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, "/proc/self/exe", &fa, &at, argv, environ);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    close(mfd);
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
stop_reaper(store_node *ns)
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

bool
store_node_is_reaper(void)
{
    /* glibc sets program_invocation_name (argv[0]) before constructors
     * run: no system call in a process that is not the reaper. */
    if (!program_invocation_name ||
        strcmp(program_invocation_name, STORE_REAPER_ARGV0) != 0)
        return false;
    char link[64];
    ssize_t n = readlink("/proc/self/fd/" STORE_STR(STORE_REAPER_SPEC_FD), link,
                         sizeof(link) - 1);
    if (n <= 0)
        return false;
    link[n] = '\0';
    return strcmp(link, "/memfd:" STORE_REAPER_MEMFD_NAME " (deleted)") == 0;
}

/* Whether `dir` is still the directory the driver made for this reaper:
 * an absolute path whose last component starts with "rayc-", a real
 * directory (not a link) of this user, closed to others, holding the
 * token file with `token`. */
static bool
dir_is_ours(const char *dir, const char *token)
{
    const char *base = strrchr(dir, '/');
    if (dir[0] != '/' || !base || strncmp(base, "/rayc-", 6) != 0 ||
        strstr(dir, "/../") || strstr(dir, "/./"))
        return false;
    struct stat st;
    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
        st.st_uid != geteuid() || (st.st_mode & 077) != 0)
        return false;
    char path[DIR_MAX + 32];
    snprintf(path, sizeof(path), "%s/" STORE_REAPER_TOKEN_FILE, dir);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    char got[TOKEN_HEX + 1];
    ssize_t n = read(fd, got, sizeof(got));
    close(fd);
    if (n != TOKEN_HEX)
        return false;
    unsigned diff = 0; /* no early exit: the time says nothing */
    for (int i = 0; i < TOKEN_HEX; i++)
        diff |= (unsigned char)(got[i] ^ token[i]);
    return diff == 0;
}

/* Read "v1\n<dir>\n<token>\n" from the spec memfd. */
static bool
read_spec(char *dir, size_t dirlen, char *token)
{
    char buf[DIR_MAX + TOKEN_HEX + 16];
    ssize_t n = pread(STORE_REAPER_SPEC_FD, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    char *d = buf + 3, *nl = strchr(d, '\n');
    if (strncmp(buf, "v1\n", 3) != 0 || !nl || (size_t)(nl - d) >= dirlen)
        return false;
    *nl = '\0';
    char *t = nl + 1;
    if (strlen(t) != TOKEN_HEX + 1 || t[TOKEN_HEX] != '\n')
        return false;
    memcpy(dir, d, (size_t)(nl - d) + 1);
    memcpy(token, t, TOKEN_HEX);
    token[TOKEN_HEX] = '\0';
    return true;
}

_Noreturn void
store_node_reaper_main(void)
{
    /* Normally done by the spawn already; a no-op (EPERM) then. */
    (void)setsid();
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    char dir[DIR_MAX + 1], token[TOKEN_HEX + 1];
    bool ok = read_spec(dir, sizeof(dir), token) && dir_is_ours(dir, token);
    close(STORE_REAPER_SPEC_FD);
    if (!ok)
        _exit(120);
    for (;;) {
        char b;
        ssize_t r = read(STORE_REAPER_PIPE_FD, &b, 1);
        if (r == 0 || (r < 0 && errno != EINTR))
            break;
    }
    /* Check again: at a clean shutdown the driver removed the directory
     * itself, and a name reused since must not be touched. */
    if (dir_is_ours(dir, token))
        remove_tree(dir, 0);
    _exit(0);
}

/* ---- API ---- */

ray_err
store_node_start(uint64_t capacity, store_node **out, char *err, size_t errlen)
{
    store_node *ns = rt_calloc(1, sizeof(*ns));
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
    store_node_stop(ns);
    return e;
}

void
store_node_stop(store_node *ns)
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
store_node_client(const store_node *ns)
{
    return ns->client;
}

const char *
store_node_socket(const store_node *ns)
{
    return ns->sock;
}
