/* SPDX-License-Identifier: Apache-2.0
 *
 * actor_table.c: entries, ids, names and the actor state machine.
 *
 * Entries live in fixed chunks so pointers stay valid while the table
 * grows; a freed slot goes on a free list and its generation is bumped,
 * which makes old ids stale; generations start at a random base per
 * table, so an id from another runtime is stale too. Name lookup is a scan of
 * live entries: a name is looked up once per create or lookup call, not per
 * method call, and a node hosts thousands of actors, not millions.
 */
#include <string.h>

#include "runtime/alloc.h"
#include "scheduler/gcs/actor_table.h"
#include "runtime/random.h"

void
gcs_actor_table_init(gcs_actor_table *t)
{
    memset(t, 0, sizeof(*t));
    t->gen_base = (uint32_t)rt_random_u64() | 1u;
}

void
gcs_actor_table_fini(gcs_actor_table *t)
{
    for (uint32_t c = 0; c < t->nchunks; c++) {
        for (uint32_t i = 0; i < GCS_ACTOR_CHUNK; i++) {
            rt_free(t->chunks[c][i].name);
            rt_free(t->chunks[c][i].death_msg);
        }
        rt_free(t->chunks[c]);
    }
    rt_free(t->chunks);
    memset(t, 0, sizeof(*t));
}

static gcs_actor *
at(gcs_actor_table *t, uint32_t slot)
{
    return &t->chunks[slot / GCS_ACTOR_CHUNK][slot % GCS_ACTOR_CHUNK];
}

static ray_err
grow(gcs_actor_table *t)
{
    gcs_actor **nc = rt_realloc(t->chunks, (t->nchunks + 1) * sizeof(*nc));
    if (!nc)
        return RAY_ENOMEM;
    t->chunks = nc;
    gcs_actor *c = rt_calloc(GCS_ACTOR_CHUNK, sizeof(*c));
    if (!c)
        return RAY_ENOMEM;
    t->chunks[t->nchunks] = c;
    uint32_t base = t->nchunks * GCS_ACTOR_CHUNK;
    t->nchunks++;
    /* Push in reverse so the lowest slot is handed out first. */
    for (uint32_t i = GCS_ACTOR_CHUNK; i-- > 0;) {
        c[i].gen = t->gen_base;
        c[i].next_free = t->free_head;
        t->free_head = base + i + 1;
    }
    return RAY_OK;
}

gcs_actor *
gcs_actor_by_name(gcs_actor_table *t, const char *name)
{
    if (!name || !name[0])
        return NULL;
    for (uint32_t c = 0; c < t->nchunks; c++) {
        for (uint32_t i = 0; i < GCS_ACTOR_CHUNK; i++) {
            gcs_actor *a = &t->chunks[c][i];
            if (a->id && a->name && a->state != GCS_ACTOR_DEAD &&
                strcmp(a->name, name) == 0)
                return a;
        }
    }
    return NULL;
}

ray_err
gcs_actor_add(gcs_actor_table *t, const char *name, uint64_t class_hash,
              gcs_actor **out)
{
    *out = NULL;
    if (name && name[0] && gcs_actor_by_name(t, name))
        return RAY_EEXISTS;
    char *copy = NULL;
    if (name && name[0] && !(copy = rt_strdup(name)))
        return RAY_ENOMEM;
    if (!t->free_head && grow(t) != RAY_OK) {
        rt_free(copy);
        return RAY_ENOMEM;
    }
    uint32_t slot = t->free_head - 1;
    gcs_actor *a = at(t, slot);
    t->free_head = a->next_free;
    uint32_t gen = a->gen + 1;
    memset(a, 0, sizeof(*a));
    a->gen = gen ? gen : 1;
    a->id = ((uint64_t)a->gen << 32) | (uint64_t)(slot + 1);
    a->class_hash = class_hash;
    a->name = copy;
    a->state = GCS_ACTOR_DEPENDENCIES_UNREADY;
    a->host = -1;
    t->live++;
    t->alive++;
    *out = a;
    return RAY_OK;
}

gcs_actor *
gcs_actor_get(gcs_actor_table *t, uint64_t id)
{
    uint32_t slot = (uint32_t)id;
    if (slot == 0 || slot > t->nchunks * GCS_ACTOR_CHUNK)
        return NULL;
    gcs_actor *a = at(t, slot - 1);
    return a->id == id ? a : NULL;
}

bool
gcs_actor_can_transition(gcs_actor_state from, gcs_actor_state to)
{
    switch (from) {
    case GCS_ACTOR_DEPENDENCIES_UNREADY:
        return to == GCS_ACTOR_PENDING || to == GCS_ACTOR_DEAD;
    case GCS_ACTOR_PENDING:
        return to == GCS_ACTOR_ALIVE || to == GCS_ACTOR_RESTARTING ||
               to == GCS_ACTOR_DEAD;
    case GCS_ACTOR_ALIVE:
        return to == GCS_ACTOR_RESTARTING || to == GCS_ACTOR_DEAD;
    case GCS_ACTOR_RESTARTING:
        return to == GCS_ACTOR_ALIVE || to == GCS_ACTOR_DEAD;
    case GCS_ACTOR_DEAD:
        return false;
    }
    return false;
}

ray_err
gcs_actor_transition(gcs_actor_table *t, gcs_actor *a, gcs_actor_state to)
{
    (void)t;
    if (to == GCS_ACTOR_DEAD ||
        !gcs_actor_can_transition((gcs_actor_state)a->state, to))
        return RAY_EINVAL;
    if (to == GCS_ACTOR_RESTARTING)
        a->num_restarts++;
    a->state = (uint8_t)to;
    return RAY_OK;
}

void
gcs_actor_set_dead(gcs_actor_table *t, gcs_actor *a, int32_t err,
                   const char *msg)
{
    if (a->state == GCS_ACTOR_DEAD)
        return;
    a->state = GCS_ACTOR_DEAD;
    a->death_err = err;
    a->death_msg = msg ? rt_strdup(msg) : NULL;
    t->alive--;
}

bool
gcs_actor_should_restart(const gcs_actor *a)
{
    if (a->state == GCS_ACTOR_DEAD)
        return false;
    return a->max_restarts < 0 || a->num_restarts < a->max_restarts;
}

void
gcs_actor_remove(gcs_actor_table *t, gcs_actor *a)
{
    if (!a->id)
        return;
    if (a->state != GCS_ACTOR_DEAD)
        t->alive--;
    rt_free(a->name);
    rt_free(a->death_msg);
    uint32_t slot = (uint32_t)a->id - 1;
    uint32_t gen = a->gen;
    memset(a, 0, sizeof(*a));
    a->gen = gen;
    a->next_free = t->free_head;
    t->free_head = slot + 1;
    t->live--;
}

const char *
gcs_actor_state_name(int state)
{
    static const char *const names[] = {"DEPENDENCIES_UNREADY", "PENDING",
                                        "ALIVE", "RESTARTING", "DEAD"};
    return state >= 0 && state <= 4 ? names[state] : "UNKNOWN";
}
