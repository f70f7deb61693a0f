/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of scheduler/cluster/node_logs.c: which files are a node's,
 * names refused before anything is opened, the end of a file, and the
 * last lines of an end. A log directory of its own per test, in /tmp. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scheduler/cluster/node_logs.h"

static char dir[PATH_MAX];

static void
mkdir_logs(void)
{
    snprintf(dir, sizeof(dir), "/tmp/rayc-nodelogs-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void
rm_logs(void)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static void
put(const char *name, const char *text)
{
    char path[PATH_MAX + 300];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

TestSuite(node_logs, .init = mkdir_logs, .fini = rm_logs, .timeout = 10);

Test(node_logs, a_list_holds_the_node_s_regular_files_sorted)
{
    put("node-127.0.0.2-20.log", "b\n");
    put("head-127.0.0.2-10.log", "a\n");
    put("node-127.0.0.21-30.log", "other node\n");
    put("node-127.0.0.3-40.log", "other node\n");
    put(".node-127.0.0.2-1.log", "hidden\n");
    char sub[PATH_MAX + 32], link[PATH_MAX + 32];
    snprintf(sub, sizeof(sub), "%s/dir-127.0.0.2-x", dir);
    cr_assert_eq(mkdir(sub, 0700), 0);
    snprintf(link, sizeof(link), "%s/link-127.0.0.2-x.log", dir);
    cr_assert_eq(symlink("/etc/passwd", link), 0);
    Ray__Rpc__LogRequest q = RAY__RPC__LOG_REQUEST__INIT;
    q.list = true;
    node_logs_reply r;
    cr_assert_eq(node_logs_answer(dir, "127.0.0.2", NULL, &q, &r), RAY_OK, "%s",
                 r.why);
    cr_assert_eq(r.msg.n_files, 2);
    cr_assert_eq(r.msg.n_sizes, 2);
    cr_assert_str_eq(r.msg.files[0], "head-127.0.0.2-10.log");
    cr_assert_str_eq(r.msg.files[1], "node-127.0.0.2-20.log");
    cr_assert_eq(r.msg.sizes[1], 2);
    node_logs_reply_fini(&r);
    /* No directory yet: no files. */
    cr_assert_eq(
        node_logs_answer("/nonexistent/logs", "127.0.0.2", NULL, &q, &r),
        RAY_OK);
    cr_assert_eq(r.msg.n_files, 0);
    node_logs_reply_fini(&r);
}

Test(node_logs, names_outside_the_node_s_logs_are_refused_saying_which)
{
    put("node-127.0.0.3-40.log", "other node\n");
    char link[PATH_MAX + 32];
    snprintf(link, sizeof(link), "%s/link-127.0.0.2-x.log", dir);
    cr_assert_eq(symlink("/etc/passwd", link), 0);
    const char *bad[] = {"../token",
                         "token",
                         "/etc/passwd",
                         ".hidden",
                         "..",
                         "node-127.0.0.3-40.log",
                         "a/-127.0.0.2-/b",
                         "link-127.0.0.2-x.log"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        Ray__Rpc__LogRequest q = RAY__RPC__LOG_REQUEST__INIT;
        q.file = (char *)bad[i];
        node_logs_reply r;
        cr_assert_eq(node_logs_answer(dir, "127.0.0.2", NULL, &q, &r),
                     RAY_EINVAL, "%s: %s", bad[i], r.why);
        cr_assert_eq(r.msg.status->code, RAY_EINVAL);
        cr_assert(strstr(r.msg.status->message, "127.0.0.2") ||
                      strstr(r.msg.status->message, "link"),
                  "%s", r.why);
        cr_assert_eq(r.msg.data.len, 0);
        node_logs_reply_fini(&r);
    }
    Ray__Rpc__LogRequest q = RAY__RPC__LOG_REQUEST__INIT;
    node_logs_reply r;
    q.file = "x\n2026-01-01 FATAL forged -127.0.0.2-";
    cr_assert_eq(node_logs_answer(dir, "127.0.0.2", NULL, &q, &r), RAY_EINVAL);
    cr_assert(!strstr(r.why, "forged"), "echoed: %s", r.why);
    node_logs_reply_fini(&r);
    q.file = "node-127.0.0.2-99.log";
    cr_assert_eq(node_logs_answer(dir, "127.0.0.2", NULL, &q, &r),
                 RAY_ENOTFOUND);
    cr_assert(strstr(r.why, "no log file 'node-127.0.0.2-99.log'"), "%s",
              r.why);
    node_logs_reply_fini(&r);
    /* No name and no own log (--block): said so. */
    q.file = "";
    cr_assert_eq(node_logs_answer(dir, "127.0.0.2", "", &q, &r), RAY_ENOTFOUND);
    cr_assert(strstr(r.why, "--block"), "%s", r.why);
    node_logs_reply_fini(&r);
}

Test(node_logs, the_end_of_a_file_and_the_own_log_by_default)
{
    put("node-127.0.0.2-7.log", "one\ntwo\nthree\n");
    Ray__Rpc__LogRequest q = RAY__RPC__LOG_REQUEST__INIT;
    q.tail_bytes = 6;
    node_logs_reply r;
    cr_assert_eq(
        node_logs_answer(dir, "127.0.0.2", "node-127.0.0.2-7.log", &q, &r),
        RAY_OK, "%s", r.why);
    cr_assert_eq(r.msg.n_files, 1);
    cr_assert_str_eq(r.msg.files[0], "node-127.0.0.2-7.log");
    cr_assert_eq(r.msg.sizes[0], 14);
    cr_assert_eq(r.msg.data.len, 6);
    cr_assert_eq(memcmp(r.msg.data.data, "three\n", 6), 0);
    node_logs_reply_fini(&r);
    /* 0: the default, more than the file. */
    q.tail_bytes = 0;
    q.file = "node-127.0.0.2-7.log";
    cr_assert_eq(node_logs_answer(dir, "127.0.0.2", NULL, &q, &r), RAY_OK);
    cr_assert_eq(r.msg.data.len, 14);
    node_logs_reply_fini(&r);
}

Test(node_logs, a_fifo_is_refused_without_blocking)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/node-127.0.0.2-1.log", dir);
    cr_assert_eq(mkfifo(path, 0600), 0);
    Ray__Rpc__LogRequest q = RAY__RPC__LOG_REQUEST__INIT;
    q.file = "node-127.0.0.2-1.log";
    node_logs_reply r;
    cr_assert_eq(node_logs_answer(dir, "127.0.0.2", NULL, &q, &r), RAY_EINVAL);
    cr_assert(strstr(r.why, "not a regular file"), "%s", r.why);
    node_logs_reply_fini(&r);
}

/* The lines node_logs_last_lines picks from `data`. */
static void
expect_last(const char *data, bool whole, size_t n, const char *want,
            size_t want_lines)
{
    size_t lines = 99;
    size_t at = node_logs_last_lines(data, strlen(data), whole, n, &lines);
    cr_assert_str_eq(data + at, want, "%s, whole %d, n %zu", data, whole, n);
    cr_assert_eq(lines, want_lines, "%s, whole %d, n %zu", data, whole, n);
}

Test(node_logs, the_last_lines_of_an_end)
{
    expect_last("a\nb\nc\n", true, 2, "b\nc\n", 2);
    expect_last("a\nb\nc\n", true, 5, "a\nb\nc\n", 3);
    expect_last("a\nb\nc", true, 1, "c", 1); /* no last newline */
    expect_last("a\nb\nc", true, 2, "b\nc", 2);
    expect_last("rt a\nb\nc\n", false, 5, "b\nc\n", 2); /* a cut first line */
    expect_last("no newline at all", false, 3, "no newline at all", 1);
    expect_last("", true, 3, "", 0);
    expect_last("\n", true, 3, "\n", 1);
    expect_last("x\n\n", true, 1, "\n", 1);
}
