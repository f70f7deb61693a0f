/* SPDX-License-Identifier: Apache-2.0
 *
 * progress.c: a progress bar for long batches on the driver's terminal,
 * as tqdm and Dask's progress bar draw one:
 *
 *     square: [##########..........]  512/1000  51%  2.3k/s  ETA 0:00:01
 *
 * Drawn on stderr with a carriage return, at most ten times a second,
 * once the batch has lasted a second, and only when stderr is a terminal.
 * RAYC_PROGRESS=0 turns it off; RAYC_PROGRESS=1 turns it on wherever
 * stderr goes, from the start (scripts and tests read it). The final state
 * ends the line. ray_map_cols draws one per map; ray_wait_progress waits
 * for a set of refs under one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/clock.h"
#include "sdk/sdk_int.h"

#define PROGRESS_DELAY_NS 1000000000LL /* a batch shorter than this: none */
#define PROGRESS_EVERY_NS 100000000LL  /* redraw at most this often */
#define PROGRESS_WIDTH 20              /* characters of the bar */

/* 0 never, 1 always (from the start), 2 on a terminal after a second. */
static int
progress_mode(void)
{
    const char *e = getenv("RAYC_PROGRESS");
    if (e && strcmp(e, "0") == 0)
        return 0;
    if (e && strcmp(e, "1") == 0)
        return 1;
    return isatty(STDERR_FILENO) ? 2 : 0;
}

void
sdk_pbar_begin(sdk_pbar *p, const char *label, size_t total)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->label, sizeof(p->label), "%s", label ? label : "");
    p->total = total;
    p->mode = progress_mode();
    p->start_ns = rt_clock_now_ns();
}

/* "1:02:03" or "0:05" into buf. */
static void
put_duration(char *buf, size_t n, double s)
{
    long t = s < 0 ? 0 : (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

/* "2.3k/s" into buf. */
static void
put_rate(char *buf, size_t n, double r)
{
    if (r >= 1e6)
        snprintf(buf, n, "%.1fM/s", r / 1e6);
    else if (r >= 1e3)
        snprintf(buf, n, "%.1fk/s", r / 1e3);
    else
        snprintf(buf, n, "%.1f/s", r);
}

static void
draw(sdk_pbar *p, size_t done, int64_t now, bool last)
{
    size_t total = p->total ? p->total : 1;
    if (done > total)
        done = total;
    double secs = (double)(now - p->start_ns) / 1e9;
    double rate = secs > 0 ? (double)done / secs : 0;
    char bar[PROGRESS_WIDTH + 1];
    size_t fill = done * PROGRESS_WIDTH / total;
    for (size_t i = 0; i < PROGRESS_WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[PROGRESS_WIDTH] = '\0';
    char r[32], t[32];
    put_rate(r, sizeof(r), rate);
    if (last)
        put_duration(t, sizeof(t), secs);
    else if (rate > 0)
        put_duration(t, sizeof(t), (double)(total - done) / rate);
    else
        snprintf(t, sizeof(t), "?");
    char line[192];
    int len = snprintf(line, sizeof(line), "%s%s[%s] %zu/%zu %3d%% %s %s %s",
                       p->label, p->label[0] ? ": " : "", bar, done, p->total,
                       (int)(done * 100 / total), r, last ? "in" : "ETA", t);
    if (len < 0)
        return;
    /* Blank what a longer earlier state left on the line. */
    int pad = p->width > len ? p->width - len : 0;
    fprintf(stderr, "\r%s%*s%s", line, pad, "", last ? "\n" : "");
    p->width = len;
    fflush(stderr);
    p->shown = true;
    p->drawn_ns = now;
}

void
sdk_pbar_update(sdk_pbar *p, size_t done)
{
    if (!p->mode)
        return;
    int64_t now = rt_clock_now_ns();
    if (p->mode == 2 && now - p->start_ns < PROGRESS_DELAY_NS)
        return;
    if (p->shown && now - p->drawn_ns < PROGRESS_EVERY_NS)
        return;
    draw(p, done, now, false);
}

void
sdk_pbar_end(sdk_pbar *p, size_t done)
{
    if (p->mode && (p->shown || p->mode == 1))
        draw(p, done, rt_clock_now_ns(), true);
}

ray_err
ray_wait_progress(const ray_ref *refs, size_t n, const char *label,
                  int64_t timeout_ms)
{
    if (n && !refs)
        return sdk_fail(RAY_EINVAL, "ray_wait_progress: refs is NULL");
    size_t *idx = n ? malloc(n * sizeof(*idx)) : NULL;
    if (n && !idx)
        return sdk_fail(RAY_ENOMEM, "ray_wait_progress: out of memory");
    sdk_pbar p;
    sdk_pbar_begin(&p, label, n);
    int64_t deadline = rt_deadline_after_ms(timeout_ms);
    size_t k = 0;
    ray_err e = RAY_OK;
    for (;;) {
        int64_t left = rt_deadline_left_ms(deadline);
        int64_t slice = PROGRESS_EVERY_NS / 1000000;
        if (left >= 0 && left < slice)
            slice = left;
        e = ray_wait(refs, n, n, slice, idx, &k);
        if (e != RAY_OK || k == n)
            break;
        sdk_pbar_update(&p, k);
        if (left == 0) {
            e = sdk_fail(RAY_ETIMEDOUT,
                         "ray_wait_progress: %zu of %zu ready when the "
                         "time ran out",
                         k, n);
            break;
        }
    }
    sdk_pbar_end(&p, k);
    free(idx);
    return e;
}
