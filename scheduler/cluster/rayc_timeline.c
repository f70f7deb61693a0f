/* SPDX-License-Identifier: Apache-2.0
 *
 * rayc_timeline.c: `rayc timeline [--output=FILE]`. Timelines live in
 * the drivers that record them (ray_timeline_enable, RAYC_TIMELINE=1),
 * and drivers have no port of their own, so the request goes through the
 * head (rayc_ask.c); each driver answers with its trace (its agents' on
 * other nodes included). The command waits up to 10 s for every driver
 * the head lists, then
 * writes one Chrome trace: each driver's nodes as processes of their own
 * (pids moved apart by 1000 per driver, names prefixed with the driver),
 * each driver's times counted from when it began recording.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "scheduler/cluster/rayc_cli.h"

/* One line of a driver's trace: its pid moved by `shift`, and, for a
 * process's name, `who` put in front of it. */
static void
put_line(FILE *f, const char *p, size_t n, int shift, const char *who)
{
    const char *pid = memmem(p, n, "\"pid\":", 6);
    if (!pid) {
        fwrite(p, 1, n, f);
        return;
    }
    fwrite(p, 1, (size_t)(pid - p), f);
    char *after;
    long v = strtol(pid + 6, &after, 10);
    fprintf(f, "\"pid\":%ld", v + shift);
    const char *rest = after, *end = p + n;
    const char *name =
        memmem(rest, (size_t)(end - rest), "\"args\":{\"name\":\"", 16);
    if (name && memmem(p, n, "\"name\":\"process_name\"", 21)) {
        fwrite(rest, 1, (size_t)(name + 16 - rest), f);
        fprintf(f, "driver %s: ", who);
        rest = name + 16;
    }
    fwrite(rest, 1, (size_t)(end - rest), f);
}

/* The body of a driver's trace (its traceEvents, one per line), each
 * line through put_line. */
static void
put_body(FILE *f, const char *text, size_t len, int shift, const char *who)
{
    const char *start = memmem(text, len, "\"traceEvents\":[\n", 16);
    const char *end = text + len;
    while (end > text && end[-1] != ']') /* the closing ]} */
        end--;
    if (!start || end <= start + 16)
        return;
    start += 16;
    end--;
    while (start < end && (end[-1] == '\n'))
        end--;
    for (const char *p = start; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        put_line(f, p, n, shift, who);
        if (!nl)
            break;
        fputc('\n', f);
        p = nl + 1;
    }
}

int
rayc_cmd_timeline(const opts *o)
{
    rayc_answers a;
    if (rayc_ask(o, "timeline", "timeline",
                 ": timelines are recorded by drivers (ray_timeline_enable, "
                 "or RAYC_TIMELINE=1)",
                 &a) != 0)
        return 1;
    if (!a.n) {
        rayc_answers_free(&a);
        return 1;
    }
    char path[PATH_MAX], who[128];
    if (o->output)
        snprintf(path, sizeof(path), "%s", o->output);
    else
        snprintf(path, sizeof(path), "/tmp/rayc-timeline-%lld.json",
                 (long long)time(NULL));
    FILE *f = fopen(path, "w");
    int events = 0, with = 0;
    if (f) {
        fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n", f);
        bool first = true;
        for (size_t i = 0; i < a.n; i++) {
            if (!a.got[i] || !a.got[i]->value.len)
                continue;
            const char *t = (const char *)a.got[i]->value.data;
            size_t len = a.got[i]->value.len;
            int ev = 0;
            for (const char *p = t;
                 (p = memmem(p, len - (size_t)(p - t), "\"ph\":\"X\"", 8));
                 p += 8)
                ev++;
            if (!ev)
                continue; /* it recorded nothing */
            rayc_answer_who(&a, i, who, sizeof(who));
            if (!first)
                fputs(",\n", f);
            first = false;
            put_body(f, t, len, 1000 * (int)i, who);
            events += ev;
            with++;
        }
        fputs("\n]}\n", f);
    }
    bool ok = f && !ferror(f);
    if (f && fclose(f) != 0)
        ok = false;
    if (!ok)
        fprintf(stderr, "rayc timeline: cannot write %s\n", path);
    else
        printf("rayc timeline: %d events from %d of %zu drivers (%zu "
               "answered) in %s; open it in https://ui.perfetto.dev\n",
               events, with, a.n, a.have, path);
    rayc_answers_free(&a);
    return ok && with ? 0 : 1;
}
