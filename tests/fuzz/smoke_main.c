/* SPDX-License-Identifier: Apache-2.0
 *
 * smoke_main.c: a small fuzz driver for the normal test suite, linked with
 * one harness in place of libFuzzer.
 *
 * It replays the harness's seed corpus (rt_fuzz_seeds), then until
 * RAYC_FUZZ_SECONDS (default 10) have passed runs random inputs and
 * mutations of seeds (bit flips, byte overwrites with interesting values,
 * insertions, deletions, truncation, splices of two seeds). The random
 * stream is seeded from RAYC_FUZZ_SEED (default: the time, printed) so a
 * failure can be replayed. Arguments name files to replay instead
 * (crash reproduction); RAYC_FUZZ_WRITE_SEEDS=dir writes the seeds there
 * as a starting corpus for libFuzzer. A bug shows as a crash or a
 * sanitizer report, which fails the test; the crashing input is printed
 * in hex and saved as crash-input in TEST_UNDECLARED_OUTPUTS_DIR (or the
 * working directory), to replay by passing the file as an argument.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/clock.h"
#include "tests/fuzz/fuzz.h"

#define MAX_INPUT 8192

typedef struct seed {
    uint8_t *data;
    size_t len;
} seed;

typedef struct corpus {
    seed *items;
    size_t n, cap;
    const char *write_dir;
} corpus;

static void
add_seed(void *arg, const uint8_t *data, size_t len)
{
    corpus *c = arg;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->items = realloc(c->items, c->cap * sizeof(seed));
        RT_FUZZ_CHECK(c->items != NULL);
    }
    seed *s = &c->items[c->n++];
    s->data = malloc(len ? len : 1);
    RT_FUZZ_CHECK(s->data != NULL);
    memcpy(s->data, data, len);
    s->len = len;
    if (c->write_dir) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/seed-%04zu", c->write_dir, c->n);
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(data, 1, len, f);
            fclose(f);
        }
    }
}

static uint64_t rng;

/* write(2) whose result a crash handler cannot act on anyway. */
static void
write_best_effort(int fd, const void *p, size_t n)
{
    ssize_t r = write(fd, p, n);
    (void)r;
}

/* The input being run, so a crash can report it. */
static const uint8_t *current;
static size_t current_len;
static char crash_path[4096];

/* SIGABRT/SIGSEGV: dump the input that crashed (async-signal-safe calls
 * only), then die with the original signal. */
static void
on_crash(int sig)
{
    static const char hex[] = "0123456789abcdef";
    char line[3 * 64 + 2];
    const char *msg = "fuzz smoke: crashing input (hex):\n";
    write_best_effort(2, msg, strlen(msg));
    for (size_t off = 0; off < current_len && off < 4096; off += 64) {
        size_t k = 0;
        for (size_t i = off; i < current_len && i < off + 64; i++) {
            line[k++] = hex[current[i] >> 4];
            line[k++] = hex[current[i] & 15];
        }
        line[k++] = '\n';
        write_best_effort(2, line, k);
    }
    if (crash_path[0]) {
        int fd = open(crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            write_best_effort(fd, current, current_len);
            close(fd);
        }
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void
run_one(const uint8_t *data, size_t len)
{
    current = data;
    current_len = len;
    LLVMFuzzerTestOneInput(data, len);
}

static uint32_t
rnd(uint32_t bound)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    uint32_t x = (uint32_t)(rng >> 33);
    return bound ? x % bound : x;
}

/* Mutate buf[0..*len) in place, capacity MAX_INPUT. */
static void
mutate(uint8_t *buf, size_t *len, const corpus *c)
{
    static const uint8_t interesting[] = {0,    1,    0x7f, 0x80, 0xff,
                                          0x0a, 0x12, 0x08, 0x59, 0x52};
    int rounds = 1 + (int)rnd(4);
    for (int i = 0; i < rounds; i++) {
        size_t n = *len;
        switch (rnd(6)) {
        case 0: /* flip a bit */
            if (n)
                buf[rnd((uint32_t)n)] ^= (uint8_t)(1u << rnd(8));
            break;
        case 1: /* interesting byte */
            if (n)
                buf[rnd((uint32_t)n)] = interesting[rnd(sizeof(interesting))];
            break;
        case 2: /* insert bytes */
            if (n < MAX_INPUT) {
                size_t at = rnd((uint32_t)n + 1), k = 1 + rnd(8);
                if (k > MAX_INPUT - n)
                    k = MAX_INPUT - n;
                memmove(buf + at + k, buf + at, n - at);
                for (size_t j = 0; j < k; j++)
                    buf[at + j] = (uint8_t)rnd(256);
                *len = n + k;
            }
            break;
        case 3: /* delete bytes */
            if (n > 1) {
                size_t at = rnd((uint32_t)n), k = 1 + rnd(8);
                if (k > n - at)
                    k = n - at;
                memmove(buf + at, buf + at + k, n - at - k);
                *len = n - k;
            }
            break;
        case 4: /* truncate */
            if (n)
                *len = rnd((uint32_t)n);
            break;
        case 5: { /* splice the tail of another seed */
            const seed *o = &c->items[rnd((uint32_t)c->n)];
            size_t at = rnd((uint32_t)n + 1), from = rnd((uint32_t)o->len + 1);
            size_t k = o->len - from;
            if (at + k > MAX_INPUT)
                k = MAX_INPUT - at;
            memcpy(buf + at, o->data + from, k);
            *len = at + k;
            break;
        }
        }
    }
}

static int
replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    printf("%s: ok (%zu bytes)\n", path, n);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc > 1) {
        int rc = 0;
        for (int i = 1; i < argc; i++)
            rc |= replay_file(argv[i]);
        return rc;
    }
    const char *s = getenv("RAYC_FUZZ_SECONDS");
    double seconds = s ? atof(s) : 10.0;
    s = getenv("RAYC_FUZZ_SEED");
    rng = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);
    printf("fuzz smoke: seed %llu, %.1f s\n", (unsigned long long)rng, seconds);

    corpus c = {.write_dir = getenv("RAYC_FUZZ_WRITE_SEEDS")};
    rt_fuzz_seeds(add_seed, &c);
    RT_FUZZ_CHECK(c.n > 0);
    const char *dir = getenv("TEST_UNDECLARED_OUTPUTS_DIR");
    snprintf(crash_path, sizeof(crash_path), "%s/crash-input", dir ? dir : ".");
    signal(SIGABRT, on_crash);
    signal(SIGSEGV, on_crash);
    for (size_t i = 0; i < c.n; i++)
        run_one(c.items[i].data, c.items[i].len);
    printf("replayed %zu seeds\n", c.n);

    static uint8_t buf[MAX_INPUT];
    int64_t start = rt_clock_now_ns();
    int64_t end = start + (int64_t)(seconds * 1e9);
    long execs = 0;
    while (rt_clock_now_ns() < end) {
        for (int k = 0; k < 64; k++, execs++) {
            size_t len;
            if (rnd(8) == 0) { /* pure random */
                len = rnd(512);
                for (size_t i = 0; i < len; i++)
                    buf[i] = (uint8_t)rnd(256);
            } else {
                const seed *o = &c.items[rnd((uint32_t)c.n)];
                len = o->len < MAX_INPUT ? o->len : MAX_INPUT;
                memcpy(buf, o->data, len);
                mutate(buf, &len, &c);
            }
            run_one(buf, len);
        }
    }
    double took = (double)(rt_clock_now_ns() - start) / 1e9;
    printf("%ld execs in %.1f s (%.0f exec/s), no failures\n", execs, took,
           took > 0 ? execs / took : 0.0);
    for (size_t i = 0; i < c.n; i++)
        free(c.items[i].data);
    free(c.items);
    return 0;
}
