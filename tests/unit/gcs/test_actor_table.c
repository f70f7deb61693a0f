/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of scheduler/gcs/actor_table.c: ids and staleness, names,
 * every edge of the state machine, restart budgets, growth. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "scheduler/gcs/actor_table.h"

TestSuite(actor_table, .timeout = 10);

Test(actor_table, add_get_remove_and_stale_ids)
{
    gcs_actor_table t;
    gcs_actor_table_init(&t);
    gcs_actor *a, *b;
    cr_assert_eq(gcs_actor_add(&t, NULL, 7, &a), RAY_OK);
    cr_assert_eq(gcs_actor_add(&t, "", 8, &b), RAY_OK);
    cr_assert_neq(a->id, 0);
    cr_assert_neq(a->id, b->id);
    cr_assert_eq(a->state, GCS_ACTOR_DEPENDENCIES_UNREADY);
    cr_assert_eq(a->host, -1);
    cr_assert_eq(gcs_actor_get(&t, a->id), a);
    cr_assert_eq(gcs_actor_get(&t, b->id)->class_hash, 8);
    cr_assert_null(gcs_actor_get(&t, 0));
    cr_assert_null(gcs_actor_get(&t, 999999));
    uint64_t old = a->id;
    gcs_actor_remove(&t, a);
    cr_assert_null(gcs_actor_get(&t, old), "a removed id is stale");
    gcs_actor *c;
    cr_assert_eq(gcs_actor_add(&t, NULL, 9, &c), RAY_OK);
    cr_assert_eq((uint32_t)c->id, (uint32_t)old, "slot reused");
    cr_assert_neq(c->id, old, "with a new generation");
    cr_assert_null(gcs_actor_get(&t, old));
    cr_assert_eq(t.live, 2);
    gcs_actor_table_fini(&t);
}

Test(actor_table, names_unique_among_live_actors)
{
    gcs_actor_table t;
    gcs_actor_table_init(&t);
    gcs_actor *a, *b;
    cr_assert_eq(gcs_actor_add(&t, "counter", 1, &a), RAY_OK);
    cr_assert_eq(gcs_actor_add(&t, "counter", 1, &b), RAY_EEXISTS);
    cr_assert_null(b);
    cr_assert_eq(gcs_actor_by_name(&t, "counter"), a);
    cr_assert_null(gcs_actor_by_name(&t, "other"));
    cr_assert_null(gcs_actor_by_name(&t, NULL));
    gcs_actor_set_dead(&t, a, 11, "killed");
    cr_assert_null(gcs_actor_by_name(&t, "counter"), "dead frees the name");
    cr_assert_eq(gcs_actor_add(&t, "counter", 1, &b), RAY_OK);
    cr_assert_eq(gcs_actor_by_name(&t, "counter"), b);
    cr_assert_str_eq(a->death_msg, "killed");
    cr_assert_eq(t.alive, 1);
    gcs_actor_table_fini(&t);
}

Test(actor_table, state_machine_edges)
{
    const int S = 5;
    /* Expected edges, from -> to. */
    bool ok[5][5] = {{false}};
    ok[GCS_ACTOR_DEPENDENCIES_UNREADY][GCS_ACTOR_PENDING] = true;
    ok[GCS_ACTOR_DEPENDENCIES_UNREADY][GCS_ACTOR_DEAD] = true;
    ok[GCS_ACTOR_PENDING][GCS_ACTOR_ALIVE] = true;
    ok[GCS_ACTOR_PENDING][GCS_ACTOR_RESTARTING] = true;
    ok[GCS_ACTOR_PENDING][GCS_ACTOR_DEAD] = true;
    ok[GCS_ACTOR_ALIVE][GCS_ACTOR_RESTARTING] = true;
    ok[GCS_ACTOR_ALIVE][GCS_ACTOR_DEAD] = true;
    ok[GCS_ACTOR_RESTARTING][GCS_ACTOR_ALIVE] = true;
    ok[GCS_ACTOR_RESTARTING][GCS_ACTOR_DEAD] = true;
    for (int f = 0; f < S; f++)
        for (int to = 0; to < S; to++)
            cr_assert_eq(gcs_actor_can_transition(f, to), ok[f][to], "%s -> %s",
                         gcs_actor_state_name(f), gcs_actor_state_name(to));
    gcs_actor_table t;
    gcs_actor_table_init(&t);
    gcs_actor *a;
    cr_assert_eq(gcs_actor_add(&t, NULL, 1, &a), RAY_OK);
    cr_assert_eq(gcs_actor_transition(&t, a, GCS_ACTOR_ALIVE), RAY_EINVAL);
    cr_assert_eq(a->state, GCS_ACTOR_DEPENDENCIES_UNREADY, "unchanged");
    cr_assert_eq(gcs_actor_transition(&t, a, GCS_ACTOR_PENDING), RAY_OK);
    cr_assert_eq(gcs_actor_transition(&t, a, GCS_ACTOR_ALIVE), RAY_OK);
    cr_assert_eq(gcs_actor_transition(&t, a, GCS_ACTOR_RESTARTING), RAY_OK);
    cr_assert_eq(a->num_restarts, 1);
    cr_assert_eq(gcs_actor_transition(&t, a, GCS_ACTOR_ALIVE), RAY_OK);
    cr_assert_eq(gcs_actor_transition(&t, a, GCS_ACTOR_DEAD), RAY_EINVAL,
                 "DEAD only through set_dead");
    gcs_actor_set_dead(&t, a, 11, "first cause");
    gcs_actor_set_dead(&t, a, 12, "second cause");
    cr_assert_eq(a->death_err, 11);
    cr_assert_str_eq(a->death_msg, "first cause");
    cr_assert_eq(gcs_actor_transition(&t, a, GCS_ACTOR_ALIVE), RAY_EINVAL);
    cr_assert_str_eq(gcs_actor_state_name(a->state), "DEAD");
    cr_assert_str_eq(gcs_actor_state_name(42), "UNKNOWN");
    gcs_actor_table_fini(&t);
}

Test(actor_table, restart_budget)
{
    gcs_actor_table t;
    gcs_actor_table_init(&t);
    gcs_actor *a, *inf;
    cr_assert_eq(gcs_actor_add(&t, NULL, 1, &a), RAY_OK);
    cr_assert_not(gcs_actor_should_restart(a), "default: no restarts");
    a->max_restarts = 2;
    gcs_actor_transition(&t, a, GCS_ACTOR_PENDING);
    gcs_actor_transition(&t, a, GCS_ACTOR_ALIVE);
    cr_assert(gcs_actor_should_restart(a));
    gcs_actor_transition(&t, a, GCS_ACTOR_RESTARTING);
    gcs_actor_transition(&t, a, GCS_ACTOR_ALIVE);
    cr_assert(gcs_actor_should_restart(a));
    gcs_actor_transition(&t, a, GCS_ACTOR_RESTARTING);
    cr_assert_not(gcs_actor_should_restart(a), "2 of 2 used");
    cr_assert_eq(gcs_actor_add(&t, NULL, 1, &inf), RAY_OK);
    inf->max_restarts = -1;
    inf->num_restarts = 1000000;
    cr_assert(gcs_actor_should_restart(inf), "-1 is unlimited");
    gcs_actor_set_dead(&t, inf, 11, NULL);
    cr_assert_not(gcs_actor_should_restart(inf), "dead never restarts");
    gcs_actor_table_fini(&t);
}

Test(actor_table, thousands_of_entries_keep_stable_pointers)
{
    gcs_actor_table t;
    gcs_actor_table_init(&t);
    enum { N = 3000 };
    static gcs_actor *p[N];
    static uint64_t id[N];
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof(name), "a%d", i);
        cr_assert_eq(gcs_actor_add(&t, name, (uint64_t)i, &p[i]), RAY_OK);
        id[i] = p[i]->id;
    }
    cr_assert_eq(t.live, N);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(gcs_actor_get(&t, id[i]), p[i]);
        cr_assert_eq(p[i]->class_hash, (uint64_t)i);
    }
    cr_assert_eq(gcs_actor_by_name(&t, "a2999"), p[2999]);
    for (int i = 0; i < N; i += 2)
        gcs_actor_remove(&t, p[i]);
    cr_assert_eq(t.live, N / 2);
    cr_assert_eq(t.alive, N / 2);
    cr_assert_null(gcs_actor_by_name(&t, "a0"));
    cr_assert_eq(gcs_actor_by_name(&t, "a1"), p[1]);
    gcs_actor_table_fini(&t);
}
