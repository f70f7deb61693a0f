/* SPDX-License-Identifier: Apache-2.0
 *
 * actor_table.h: the control service's table of actors.
 *
 * One entry per actor: its class, name, options that outlive a worker
 * (restart budget), its address (the hosting worker and the slot inside
 * it), its incarnation and its state machine
 *
 *     DEPENDENCIES_UNREADY -> PENDING -> ALIVE <-> RESTARTING
 *              \________________\_________\____________\--> DEAD
 *
 * with the cause of death once DEAD. Ids are (generation << 32 | slot+1)
 * like object ids, so a handle to a freed entry is recognised as stale in
 * O(1). Names are unique among actors that are not DEAD: a DEAD actor's
 * name is free again. Pure data structure, no I/O: the local runtime
 * embeds it under its lock today; the GCS server will own it in a
 * cluster. Not thread-safe.
 */
#ifndef RAY_SCHEDULER_GCS_ACTOR_TABLE_H
#define RAY_SCHEDULER_GCS_ACTOR_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/status.h"

typedef enum gcs_actor_state {
    GCS_ACTOR_DEPENDENCIES_UNREADY = 0,
    GCS_ACTOR_PENDING = 1,
    GCS_ACTOR_ALIVE = 2,
    GCS_ACTOR_RESTARTING = 3,
    GCS_ACTOR_DEAD = 4,
} gcs_actor_state;

typedef struct gcs_actor {
    uint64_t id; /* 0 while the slot is free */
    uint64_t class_hash;
    char *name;    /* owned; NULL if unnamed */
    uint8_t state; /* gcs_actor_state */
    bool detached;
    int32_t max_restarts; /* -1: unlimited */
    int32_t num_restarts; /* restarts so far (incarnation - 1) */
    int32_t max_task_retries;
    int32_t host;       /* address: hosting worker, -1 if none */
    uint32_t host_slot; /* address: slot inside that worker */
    int32_t pid;        /* hosting process, 0 if unknown */
    uint32_t handles;   /* live handles held by users */
    int32_t death_err;  /* ray_err once DEAD */
    char *death_msg;    /* owned; why it died */
    void *user;         /* the embedding runtime's data */
    uint32_t gen;
    uint32_t next_free; /* free list: slot + 1, 0 = end */
} gcs_actor;

#define GCS_ACTOR_CHUNK 256u

typedef struct gcs_actor_table {
    gcs_actor **chunks; /* chunks of GCS_ACTOR_CHUNK entries; never move */
    uint32_t nchunks;
    uint32_t free_head; /* slot + 1 */
    uint32_t live;      /* entries in use */
    uint32_t alive;     /* entries not DEAD */
    uint32_t gen_base;  /* first generation of every slot: random per
                           table, so ids of another table (another
                           runtime) are stale here */
} gcs_actor_table;

/* An empty table. Never fails. */
void gcs_actor_table_init(gcs_actor_table *t);

/* Free every entry and the table's memory. */
void gcs_actor_table_fini(gcs_actor_table *t);

/* Add an actor in DEPENDENCIES_UNREADY. `name` (may be NULL or "") is
 * copied. RAY_EEXISTS if a live (not DEAD) actor has that name; RAY_ENOMEM.
 * *out stays valid until the entry is removed (entries never move). */
ray_err gcs_actor_add(gcs_actor_table *t, const char *name, uint64_t class_hash,
                      gcs_actor **out);

/* The entry for `id`, or NULL if null, stale or removed. */
gcs_actor *gcs_actor_get(gcs_actor_table *t, uint64_t id);

/* The live (not DEAD) actor called `name`, or NULL. */
gcs_actor *gcs_actor_by_name(gcs_actor_table *t, const char *name);

/* True if `from -> to` is an edge of the state machine. */
bool gcs_actor_can_transition(gcs_actor_state from, gcs_actor_state to);

/* Move `a` to `to` (RESTARTING also counts a restart). RAY_EINVAL for an
 * illegal transition (the state is unchanged). Use gcs_actor_set_dead for
 * DEAD. */
ray_err gcs_actor_transition(gcs_actor_table *t, gcs_actor *a,
                             gcs_actor_state to);

/* Mark `a` DEAD with a cause (copied); its name becomes free. A second
 * call keeps the first cause. */
void gcs_actor_set_dead(gcs_actor_table *t, gcs_actor *a, int32_t err,
                        const char *msg);

/* True if a crash of `a` should restart it (budget not used up). */
bool gcs_actor_should_restart(const gcs_actor *a);

/* Free the entry (any state); its id becomes stale. */
void gcs_actor_remove(gcs_actor_table *t, gcs_actor *a);

/* A static name for a state ("ALIVE"). */
const char *gcs_actor_state_name(int state);

#endif /* RAY_SCHEDULER_GCS_ACTOR_TABLE_H */
