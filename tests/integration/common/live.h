/* SPDX-License-Identifier: Apache-2.0
 *
 * live.h: leak checks over long runs, for integration tests. ASan sees
 * only what is left at exit, and shutdown frees the runtime's live state;
 * these read the driver's count of live allocations (rt_alloc_live)
 * instead. Work finishes asynchronously (actors end, children released
 * unread still run), so both helpers wait, with a bound. Header-only.
 */
#ifndef RAYC_TESTS_LIVE_H
#define RAYC_TESTS_LIVE_H

#include <time.h>

#include "runtime/alloc.h"

static inline void
live_nap_5ms(void)
{
    struct timespec d = {0, 5000000};
    nanosleep(&d, NULL);
}

/* The live count once it stops moving between two looks 5 ms apart
 * (2 s at most). */
static inline long
live_settled(void)
{
    long base = rt_alloc_live();
    for (int i = 0; i < 400; i++) {
        live_nap_5ms();
        long now = rt_alloc_live();
        if (now == base)
            break;
        base = now;
    }
    return base;
}

/* The live count once it is at most `base`, or after `ms`. */
static inline long
live_down_to(long base, int ms)
{
    long live = rt_alloc_live();
    for (int i = 0; i < ms / 5 && live > base; i++) {
        live_nap_5ms();
        live = rt_alloc_live();
    }
    return live;
}

#endif /* RAYC_TESTS_LIVE_H */
