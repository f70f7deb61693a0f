/* SPDX-License-Identifier: Apache-2.0
 *
 * state.h: the driver's live tasks and objects as tab-separated rows
 * (state.c says the format), for `rayc list tasks|objects`.
 */
#ifndef RAY_SDK_STATE_H
#define RAY_SDK_STATE_H

#include <stddef.h>

#include "runtime/text.h"

/* Append at most max rows of this runtime's live
 * tasks (those not finished: waiting for arguments, queued, running),
 * on node `node_id` (hex, or "" outside a cluster). Returns how many there are
 * (rows or not). */
size_t sdk_state_tasks(rt_text *out, size_t max, const char *node_id);

/* The same for the objects it owns (pending, ready or failed, not yet
 * freed). */
size_t sdk_state_objects(rt_text *out, size_t max);

/* The same for its actors (any state, while the runtime keeps them). */
size_t sdk_state_actors(rt_text *out, size_t max, const char *node_id);

/* The same for its placement groups not removed (sdk/placement.c):
 * id, name ("-" none), strategy, state, bundles ("{CPU:1}{GPU:1}"), the
 * node of each ("a,b": all on `node_id` here). */
size_t sdk_pg_rows(rt_text *out, size_t max, const char *node_id);

#endif /* RAY_SDK_STATE_H */
