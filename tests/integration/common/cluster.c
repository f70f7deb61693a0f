/* SPDX-License-Identifier: Apache-2.0
 *
 * cluster.c: the loopback cluster harness (cluster.h).
 */
#include "tests/integration/common/cluster.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static bool
find_rayc(rc_cluster *c)
{
    const char *env = getenv("RAYC_BIN");
    const char *srcdir = getenv("TEST_SRCDIR"), *ws = getenv("TEST_WORKSPACE");
    char self[PATH_MAX] = "";
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[n > 0 ? n : 0] = 0;
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = 0;
    char cand[4][PATH_MAX + 64];
    snprintf(cand[0], sizeof(cand[0]), "%s", env ? env : "");
    snprintf(cand[1], sizeof(cand[1]), "%s/%s/scheduler/cluster/rayc",
             srcdir ? srcdir : "", ws ? ws : "");
    snprintf(cand[2], sizeof(cand[2]), "scheduler/cluster/rayc");
    /* bazel-bin/tests/integration/cluster or bazel-bin/bench */
    snprintf(cand[3], sizeof(cand[3]), "%s/%s/scheduler/cluster/rayc", self,
             strstr(self, "/tests/") ? "../../.." : "..");
    for (int i = 0; i < 4; i++)
        if (cand[i][0] && access(cand[i], X_OK) == 0 &&
            realpath(cand[i], c->rayc))
            return true;
    fprintf(stderr, "cluster harness: the rayc program is not built\n");
    return false;
}

bool
rc_open(rc_cluster *c, const char *what)
{
    memset(c, 0, sizeof(*c));
    if (!find_rayc(c))
        return false;
    snprintf(c->tmp, sizeof(c->tmp), "/tmp/rayc-%s-XXXXXX", what);
    if (!mkdtemp(c->tmp)) {
        perror("cluster harness: mkdtemp");
        c->tmp[0] = 0;
        return false;
    }
    char tok[PATH_MAX + 8];
    snprintf(tok, sizeof(tok), "%s/token", c->tmp);
    setenv("RAYC_TOKEN_FILE", tok, 1);
    setenv("RAYC_TEMP_DIR", c->tmp, 1);
    unsetenv("RAY_ADDRESS");
    return true;
}

int
rc_rayc(rc_cluster *c, const char *a1, ...)
{
    const char *argv[24] = {c->rayc, a1};
    int n = 2;
    va_list ap;
    va_start(ap, a1);
    const char *a;
    while (n < 22 && (a = va_arg(ap, const char *)))
        argv[n++] = a;
    va_end(ap);
    char td[PATH_MAX + 16];
    snprintf(td, sizeof(td), "--temp-dir=%s", c->tmp);
    argv[n++] = td;
    argv[n] = NULL;
    return rc_run(c, (char *const *)argv, 600);
}

int
rc_run(rc_cluster *c, char *const *argv, int limit_s)
{
    char out[PATH_MAX + 8];
    snprintf(out, sizeof(out), "%s/out", c->tmp);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&at, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0)
        return -1;
    /* Its end wakes us at once (a pidfd), and the limit stops the wait;
     * a kernel without pidfds is asked every 10 ms. */
    int st = 0, pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    bool ended = false;
    if (pfd >= 0) {
        struct pollfd p = {.fd = pfd, .events = POLLIN};
        int r;
        while ((r = poll(&p, 1, limit_s * 1000)) < 0 && errno == EINTR)
            ;
        close(pfd);
        ended = r == 1 && waitpid(pid, &st, 0) == pid;
    } else {
        for (long i = 0; i < (long)limit_s * 100 && !ended; i++) {
            ended = waitpid(pid, &st, WNOHANG) == pid;
            struct timespec ts = {0, 10000000L};
            if (!ended)
                nanosleep(&ts, NULL);
        }
    }
    if (ended)
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

const char *
rc_out(const rc_cluster *c)
{
    static char buf[16384];
    char path[PATH_MAX + 8];
    snprintf(path, sizeof(path), "%s/out", c->tmp);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = 0;
    return buf;
}

bool
rc_read_head(rc_cluster *c)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/head_address", c->tmp);
    FILE *f = fopen(path, "r");
    bool ok = f && fgets(c->head, sizeof(c->head), f);
    if (f)
        fclose(f);
    c->head[strcspn(c->head, "\n")] = 0;
    return ok && c->head[0];
}

/* Alive and not a zombie: a daemon killed with SIGKILL leaves its pid
 * file behind (and, under a subreaper, a zombie that kill() still
 * finds). */
static bool
running(pid_t pid)
{
    char path[64], buf[256] = "";
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    bool ok = f && fgets(buf, sizeof(buf), f);
    if (f)
        fclose(f);
    const char *rp = ok ? strrchr(buf, ')') : NULL;
    return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

pid_t
rc_daemon_pid(const rc_cluster *c, const char *ip)
{
    char dir[PATH_MAX + 8];
    snprintf(dir, sizeof(dir), "%s/pids", c->tmp);
    DIR *d = opendir(dir);
    struct dirent *e;
    pid_t found = 0;
    while (d && (e = readdir(d)) && !found) {
        char f[PATH_MAX + 300], line[128] = "";
        snprintf(f, sizeof(f), "%s/%s", dir, e->d_name);
        FILE *fp = fopen(f, "r");
        if (fp && fgets(line, sizeof(line), fp) && strstr(line, ip) &&
            running(atoi(e->d_name)))
            found = atoi(e->d_name);
        if (fp)
            fclose(fp);
    }
    if (d)
        closedir(d);
    return found;
}

bool
rc_logs_clean(const rc_cluster *c)
{
    char cmd[PATH_MAX + 128];
    snprintf(cmd, sizeof(cmd),
             "grep -h -E 'runtime error:|Sanitizer' '%s'/logs/* >&2", c->tmp);
    return system(cmd) != 0;
}

void
rc_net_down(rc_cluster *c)
{
    if (!c->nft[0])
        return;
    char cmd[128];
    snprintf(cmd, sizeof(cmd),
             "PATH=$PATH:/usr/sbin:/sbin nft delete table inet %s 2>/dev/null",
             c->nft);
    if (system(cmd) != 0)
        fprintf(stderr, "cluster harness: could not delete nft table %s\n",
                c->nft);
    c->nft[0] = 0;
}

void
rc_close(rc_cluster *c)
{
    rc_net_down(c);
    if (!c->tmp[0])
        return;
    rc_rayc(c, "stop", NULL);
    char dir[PATH_MAX + 8];
    snprintf(dir, sizeof(dir), "%s/pids", c->tmp);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (atoi(e->d_name) > 0)
            kill(atoi(e->d_name), SIGKILL);
    if (d)
        closedir(d);
    char disk[PATH_MAX + 8]; /* the chaos run's spill disk, if left */
    snprintf(disk, sizeof(disk), "%s/disk", c->tmp);
    umount2(disk, MNT_DETACH);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->tmp);
    if (!getenv("RAYC_TEST_KEEP") && system(cmd) != 0)
        fprintf(stderr, "cluster harness: could not remove %s\n", c->tmp);
    c->tmp[0] = 0;
}

/* ---- process trees ---- */

/* The parent pid of `pid` from /proc, or -1. */
static pid_t
parent_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the name may hold spaces */
    int ppid = -1;
    if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
        return -1;
    return ppid;
}

int
rc_tree(pid_t root, pid_t *out, int max)
{
    int n = 0;
    out[n++] = root;
    for (int grew = 1; grew && n < max;) {
        grew = 0;
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d)) && n < max) {
            pid_t p = (pid_t)atoi(e->d_name);
            if (p <= 0)
                continue;
            bool have = false;
            for (int i = 0; i < n && !have; i++)
                have = out[i] == p;
            pid_t pp = have ? -1 : parent_of(p);
            for (int i = 0; i < n && pp > 0; i++)
                if (out[i] == pp) {
                    out[n++] = p;
                    grew = 1;
                    break;
                }
        }
        if (d)
            closedir(d);
    }
    return n;
}

void
rc_signal_tree(pid_t root, int sig)
{
    pid_t ps[256];
    int n = rc_tree(root, ps, 256);
    for (int i = 0; i < n; i++)
        kill(ps[i], sig);
}
