/* SPDX-License-Identifier: Apache-2.0
 *
 * status.c: the cluster as the GCS says it, as JSON and as Prometheus
 * metrics (status.h).
 */
#include "scheduler/cluster/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/ids.h"

static ray_err
kv_list(int fd, const char *ns, Ray__Rpc__KvListReply **out, char *why,
        size_t whylen)
{
    Ray__Rpc__KvListRequest q = RAY__RPC__KV_LIST_REQUEST__INIT;
    q.ns = (char *)ns;
    ProtobufCMessage *m = NULL;
    ray_err err = rt_net_call(
        fd, RAY__RPC__MESSAGE_TYPE__MSG_KV_LIST_REQUEST, &q.base,
        RAY__RPC__MESSAGE_TYPE__MSG_KV_LIST_REPLY, &m, 5000, why, whylen);
    *out = (Ray__Rpc__KvListReply *)m;
    return err;
}

ray_err
cl_view_get(const char *address, const uint8_t tok[RT_TOKEN_LEN], cl_view *v,
            char *why, size_t whylen)
{
    memset(v, 0, sizeof(*v));
    snprintf(v->address, sizeof(v->address), "%s", address);
    int fd = -1;
    ray_err err = rt_dial(address, tok, "cli", &fd, why, whylen);
    ProtobufCMessage *m = NULL;
    Ray__Rpc__GetAllNodesRequest req = RAY__RPC__GET_ALL_NODES_REQUEST__INIT;
    if (err == RAY_OK)
        err = rt_net_call(fd, RAY__RPC__MESSAGE_TYPE__MSG_GET_ALL_NODES_REQUEST,
                          &req.base,
                          RAY__RPC__MESSAGE_TYPE__MSG_GET_ALL_NODES_REPLY, &m,
                          5000, why, whylen);
    v->nodes = (Ray__Rpc__GetAllNodesReply *)m;
    if (err == RAY_OK)
        err = kv_list(fd, "job", &v->jobs, why, whylen);
    if (err == RAY_OK)
        err = kv_list(fd, "actor", &v->actors, why, whylen);
    if (err == RAY_OK)
        err = kv_list(fd, "metrics", &v->metrics, why, whylen);
    if (fd >= 0)
        close(fd);
    if (err != RAY_OK)
        cl_view_free(v);
    return err;
}

void
cl_view_free(cl_view *v)
{
    rt_proto_free(v->nodes ? &v->nodes->base : NULL);
    rt_proto_free(v->jobs ? &v->jobs->base : NULL);
    rt_proto_free(v->actors ? &v->actors->base : NULL);
    rt_proto_free(v->metrics ? &v->metrics->base : NULL);
    memset(v, 0, sizeof(*v));
}

double
cl_view_cpus(const Ray__Rpc__ResourceSet *rs, char *custom, size_t len)
{
    double cpu = 0;
    size_t k = 0;
    custom[0] = 0;
    for (size_t i = 0; rs && i < rs->n_entries; i++) {
        if (!strcmp(rs->entries[i]->name, "CPU"))
            cpu = rs->entries[i]->quantity;
        else if (k < len)
            k += (size_t)snprintf(custom + k, len - k, "%s%s:%g", k ? "," : "",
                                  rs->entries[i]->name,
                                  rs->entries[i]->quantity);
    }
    return cpu;
}

bool
cl_view_node(const Ray__Rpc__NodeInfo *ni, char id[57], char addr[96])
{
    id[0] = 0;
    if (ni->node_id.len == 28)
        rt_id_hex_encode(ni->node_id.data, 28, id);
    snprintf(addr, 96, "%s:%u",
             ni->raylet_address ? ni->raylet_address->ip : "?",
             ni->raylet_address ? ni->raylet_address->port : 0);
    return ni->state == RAY__RPC__NODE_STATE__NODE_STATE_ALIVE;
}

/* A JSON string: quoted, with " \ and control characters escaped. */
static void
json_str(rt_text *out, const char *s, size_t n)
{
    rt_text_putn(out, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            rt_text_put(out, "\\%c", c);
        else if (c < 0x20)
            rt_text_put(out, "\\u%04x", c);
        else
            rt_text_putn(out, (const char *)&c, 1);
    }
    rt_text_putn(out, "\"", 1);
}

static void
json_cstr(rt_text *out, const char *s)
{
    json_str(out, s ? s : "", s ? strlen(s) : 0);
}

double
cl_metric_value(const char *text, size_t len, const char *series)
{
    double sum = 0;
    size_t sl = strlen(series);
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        if (n > sl + 1 && !memcmp(p, series, sl) && p[sl] == ' ') {
            char num[64];
            snprintf(num, sizeof(num), "%.*s", (int)(n - sl - 1), p + sl + 1);
            sum += strtod(num, NULL);
        }
        p += n + 1;
    }
    return sum;
}

double
cl_view_metric_sum(const cl_view *v, const char *series)
{
    double sum = 0;
    const Ray__Rpc__KvListReply *mt = v->metrics;
    for (size_t i = 0; mt && i < mt->n_values; i++)
        sum += cl_metric_value((const char *)mt->values[i].data,
                               mt->values[i].len, series);
    return sum;
}

void
cl_view_json(const cl_view *v, rt_text *out)
{
    rt_text_put(out, "{\"address\":");
    json_cstr(out, v->address);
    rt_text_put(out, ",\"nodes\":[");
    for (size_t i = 0; v->nodes && i < v->nodes->n_nodes; i++) {
        const Ray__Rpc__NodeInfo *ni = v->nodes->nodes[i];
        char id[57], a[96], custom[256], unused[256];
        bool up = cl_view_node(ni, id, a);
        double cpu = cl_view_cpus(ni->total_resources, custom, sizeof(custom));
        double free_cpu =
            cl_view_cpus(ni->available_resources, unused, sizeof(unused));
        rt_text_put(out,
                    "%s{\"node_id\":\"%s\",\"address\":\"%s\",\"state\":\"%s\","
                    "\"cpus\":%g,\"cpus_used\":%g,\"head\":%s,\"resources\":",
                    i ? "," : "", id, a, up ? "ALIVE" : "DEAD", cpu,
                    cpu - free_cpu < 0 ? 0 : cpu - free_cpu,
                    ni->is_head ? "true" : "false");
        json_cstr(out, custom);
        rt_text_put(out, ",\"hostname\":");
        json_cstr(out, ni->hostname);
        rt_text_put(out, ",\"heartbeat_age_ms\":%llu,\"death_reason\":",
                    (unsigned long long)ni->last_heartbeat_ms);
        json_cstr(out, ni->death_reason);
        rt_text_put(out, "}");
    }
    rt_text_put(out, "],\"jobs\":[");
    /* The drivers connected now: "ip:pid" -> "program start-time". */
    const Ray__Rpc__KvListReply *j = v->jobs;
    for (size_t i = 0; j && i < j->n_keys && i < j->n_values; i++) {
        char prog[256] = "?", val[512];
        long long started = 0;
        snprintf(val, sizeof(val), "%.*s", (int)j->values[i].len,
                 (const char *)j->values[i].data);
        sscanf(val, "%255s %lld", prog, &started);
        rt_text_put(out, "%s{\"driver\":", i ? "," : "");
        json_str(out, (const char *)j->keys[i].data, j->keys[i].len);
        rt_text_put(out, ",\"program\":");
        json_cstr(out, prog);
        rt_text_put(out, ",\"running_s\":%lld}",
                    started ? (long long)time(NULL) - started : 0);
    }
    rt_text_put(out, "],\"named_actors\":[");
    const Ray__Rpc__KvListReply *a = v->actors;
    for (size_t i = 0; a && i < a->n_keys; i++) {
        rt_text_put(out, "%s", i ? "," : "");
        json_str(out, (const char *)a->keys[i].data, a->keys[i].len);
    }
    /* The drivers' own counts (the metrics they push), summed. */
    static const char *const state[] = {
        "PENDING_ARGS_AVAIL", "PENDING_NODE_ASSIGNMENT", "SUBMITTED_TO_WORKER"};
    rt_text_put(out, "],\"tasks\":{");
    for (int i = 0; i < 3; i++) {
        char series[96];
        snprintf(series, sizeof(series), "rayc_tasks{state=\"%s\"}", state[i]);
        rt_text_put(out, "\"%s\":%.0f,", state[i],
                    cl_view_metric_sum(v, series));
    }
    rt_text_put(
        out, "\"FINISHED\":%.0f,\"FAILED\":%.0f},",
        cl_view_metric_sum(v, "rayc_tasks_finished_total{result=\"ok\"}"),
        cl_view_metric_sum(v, "rayc_tasks_finished_total{result=\"error\"}"));
    rt_text_put(out, "\"actors_live\":%.0f,\"object_store_bytes\":%.0f}\n",
                cl_view_metric_sum(v, "rayc_actors_live"),
                cl_view_metric_sum(v, "rayc_object_store_bytes"));
}

/* ---- metrics ---- */

/* One metric family, merged over the drivers. */
typedef struct family {
    char name[128];
    char *help, *type;
    rt_text samples;
} family;

typedef struct families {
    family *f;
    size_t n, cap;
} families;

static family *
family_find(families *fs, const char *name, size_t len)
{
    for (size_t i = 0; i < fs->n; i++)
        if (strlen(fs->f[i].name) == len && !memcmp(fs->f[i].name, name, len))
            return &fs->f[i];
    return NULL;
}

/* The family a sample of `name` belongs to: its own, or, for a
 * histogram's name_bucket, name_sum and name_count, the histogram's
 * (declared by its HELP and TYPE lines before them). */
static family *
family_of_sample(families *fs, const char *name, size_t len)
{
    static const char *const suffix[] = {"_bucket", "_sum", "_count"};
    for (int i = 0; i < 3; i++) {
        size_t sl = strlen(suffix[i]);
        family *f;
        if (len > sl && !memcmp(name + len - sl, suffix[i], sl) &&
            (f = family_find(fs, name, len - sl)) && f->type &&
            !strcmp(f->type, "histogram"))
            return f;
    }
    return NULL;
}

static family *
family_of(families *fs, const char *name, size_t len)
{
    if (!len || len >= sizeof(fs->f->name))
        return NULL;
    family *found = family_find(fs, name, len);
    if (found)
        return found;
    family *nf = rt_array_room(fs->f, fs->n, &fs->cap, sizeof(*nf), 32);
    if (!nf)
        return NULL;
    fs->f = nf;
    family *f = &fs->f[fs->n++];
    memset(f, 0, sizeof(*f));
    memcpy(f->name, name, len);
    return f;
}

static char *
dup_n(const char *s, size_t n)
{
    char *d = rt_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

/* One line of a driver's text into the families: HELP and TYPE once,
 * samples with job="<job>" added to their labels. */
static void
merge_line(families *fs, const char *line, size_t n, const char *job)
{
    if (n > 7 &&
        (!strncmp(line, "# HELP ", 7) || !strncmp(line, "# TYPE ", 7))) {
        const char *name = line + 7, *sp = memchr(name, ' ', n - 7);
        if (!sp)
            return;
        family *f = family_of(fs, name, (size_t)(sp - name));
        char **slot = !f ? NULL : line[2] == 'H' ? &f->help : &f->type;
        if (slot && !*slot)
            *slot = dup_n(sp + 1, n - (size_t)(sp + 1 - line));
        return;
    }
    if (!n || line[0] == '#')
        return;
    size_t k = 0;
    while (k < n && line[k] != '{' && line[k] != ' ')
        k++;
    family *f = family_of_sample(fs, line, k);
    if (!f)
        f = family_of(fs, line, k);
    if (!f || k == n)
        return;
    rt_text_putn(&f->samples, line, k);
    rt_text_put(&f->samples, "{job=\"%s\"%s", job, line[k] == '{' ? "," : "}");
    size_t rest = line[k] == '{' ? k + 1 : k;
    rt_text_putn(&f->samples, line + rest, n - rest);
    rt_text_putn(&f->samples, "\n", 1);
}

static void
gauge(rt_text *out, const char *name, const char *help)
{
    rt_text_put(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

void
cl_view_metrics(const cl_view *v, rt_text *out)
{
    size_t nn = v->nodes ? v->nodes->n_nodes : 0;
    const char *names[] = {"rayc_cluster_node_alive", "rayc_cluster_node_cpus",
                           "rayc_cluster_node_cpus_used"};
    const char *helps[] = {
        "1 while the head counts the node alive, 0 once declared dead.",
        "CPUs the node offers.",
        "CPUs in use on the node, as its last heartbeat measured."};
    for (int m = 0; m < 3; m++) {
        gauge(out, names[m], helps[m]);
        for (size_t i = 0; i < nn; i++) {
            const Ray__Rpc__NodeInfo *ni = v->nodes->nodes[i];
            char id[57], addr[96], custom[256], unused[256];
            bool up = cl_view_node(ni, id, addr);
            double cpu =
                cl_view_cpus(ni->total_resources, custom, sizeof(custom));
            double used = cpu - cl_view_cpus(ni->available_resources, unused,
                                             sizeof(unused));
            double val = m == 0 ? up : m == 1 ? cpu : up && used > 0 ? used : 0;
            rt_text_put(out, "%s{node=\"%.16s\",address=\"%s\"} %g\n", names[m],
                        id, addr, val);
        }
    }
    gauge(out, "rayc_cluster_node_resource",
          "Custom resources a node offers, by name.");
    for (size_t i = 0; i < nn; i++) {
        const Ray__Rpc__NodeInfo *ni = v->nodes->nodes[i];
        char id[57], addr[96];
        cl_view_node(ni, id, addr);
        for (size_t j = 0;
             ni->total_resources && j < ni->total_resources->n_entries; j++) {
            const Ray__Rpc__ResourceEntry *re = ni->total_resources->entries[j];
            if (strcmp(re->name, "CPU"))
                rt_text_put(out,
                            "rayc_cluster_node_resource{node=\"%.16s\","
                            "resource=\"%s\"} %g\n",
                            id, re->name, re->quantity);
        }
    }
    gauge(out, "rayc_cluster_drivers", "Drivers connected to the head now.");
    rt_text_put(out, "rayc_cluster_drivers %zu\n",
                v->jobs ? v->jobs->n_keys : 0);
    gauge(out, "rayc_cluster_named_actors",
          "Named actors registered at the head (detached ones included).");
    rt_text_put(out, "rayc_cluster_named_actors %zu\n",
                v->actors ? v->actors->n_keys : 0);
    /* Each driver's own metrics, merged by family with a job label. */
    families fs = {0};
    const Ray__Rpc__KvListReply *mt = v->metrics;
    for (size_t i = 0; mt && i < mt->n_keys && i < mt->n_values; i++) {
        char job[64];
        snprintf(job, sizeof(job), "%.*s", (int)mt->keys[i].len,
                 (const char *)mt->keys[i].data);
        for (size_t k = 0; job[k]; k++)
            if (job[k] == '"' || job[k] == '\\')
                job[k] = '_';
        const char *p = (const char *)mt->values[i].data;
        const char *end = p + mt->values[i].len;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t n = (size_t)((nl ? nl : end) - p);
            merge_line(&fs, p, n, job);
            p += n + 1;
        }
    }
    for (size_t i = 0; i < fs.n; i++) {
        family *f = &fs.f[i];
        if (f->help)
            rt_text_put(out, "# HELP %s %s\n", f->name, f->help);
        if (f->type)
            rt_text_put(out, "# TYPE %s %s\n", f->name, f->type);
        if (f->samples.n)
            rt_text_putn(out, f->samples.p, f->samples.n);
        rt_free(f->help);
        rt_free(f->type);
        rt_free(f->samples.p);
    }
    rt_free(fs.f);
}

/* ---- rayc list ---- */

#define LIST_COLS 8

typedef struct row {
    char v[LIST_COLS][160];
} row;

typedef struct table {
    const char *cols[LIST_COLS];
    int ncols;
    bool number[LIST_COLS]; /* JSON: unquoted */
    row *rows;
    size_t n, cap;
} table;

static row *
add_row(table *t)
{
    row *nr = rt_array_room(t->rows, t->n, &t->cap, sizeof(*nr), 16);
    if (!nr)
        return NULL;
    t->rows = nr;
    row *r = &t->rows[t->n++];
    memset(r, 0, sizeof(*r));
    return r;
}

/* Is the node at raylet address `addr` alive? */
static bool
node_alive(const cl_view *v, const char *addr)
{
    for (size_t i = 0; v->nodes && i < v->nodes->n_nodes; i++) {
        char id[57], a[96];
        bool up = cl_view_node(v->nodes->nodes[i], id, a);
        if (!strcmp(a, addr))
            return up;
    }
    return false;
}

static bool
fill(const cl_view *v, const char *kind, table *t)
{
    if (!strcmp(kind, "nodes")) {
        *t = (table){{"node_id", "address", "state", "is_head", "cpus",
                      "resources", "death_reason"},
                     7,
                     {false, false, false, true, true, false, false},
                     NULL,
                     0,
                     0};
        for (size_t i = 0; v->nodes && i < v->nodes->n_nodes; i++) {
            const Ray__Rpc__NodeInfo *ni = v->nodes->nodes[i];
            row *r = add_row(t);
            if (!r)
                break;
            char custom[256];
            bool up = cl_view_node(ni, r->v[0], r->v[1]);
            snprintf(r->v[2], sizeof(r->v[2]), "%s", up ? "ALIVE" : "DEAD");
            snprintf(r->v[3], sizeof(r->v[3]), "%s",
                     ni->is_head ? "true" : "false");
            snprintf(r->v[4], sizeof(r->v[4]), "%g",
                     cl_view_cpus(ni->total_resources, custom, sizeof(custom)));
            snprintf(r->v[5], sizeof(r->v[5]), "%s", custom);
            snprintf(r->v[6], sizeof(r->v[6]), "%s",
                     ni->death_reason ? ni->death_reason : "");
        }
        return true;
    }
    if (!strcmp(kind, "jobs")) {
        *t = (table){{"driver", "state", "program", "running_s"},
                     4,
                     {false, false, false, true},
                     NULL,
                     0,
                     0};
        const Ray__Rpc__KvListReply *j = v->jobs;
        for (size_t i = 0; j && i < j->n_keys && i < j->n_values; i++) {
            row *r = add_row(t);
            if (!r)
                break;
            char val[512], prog[160] = "?";
            long long started = 0;
            snprintf(val, sizeof(val), "%.*s", (int)j->values[i].len,
                     (const char *)j->values[i].data);
            sscanf(val, "%159s %lld", prog, &started);
            snprintf(r->v[0], sizeof(r->v[0]), "%.*s", (int)j->keys[i].len,
                     (const char *)j->keys[i].data);
            snprintf(r->v[1], sizeof(r->v[1]), "RUNNING");
            snprintf(r->v[2], sizeof(r->v[2]), "%s", prog);
            snprintf(r->v[3], sizeof(r->v[3]), "%lld",
                     started ? (long long)time(NULL) - started : 0);
        }
        return true;
    }
    return false;
}

/* Print t (rows whose column `key` is `value`; key NULL: all) as an
 * aligned table or a JSON array, and free its rows. */
static ray_err
print_table(table *t, const char *kind, const char *key, const char *value,
            bool json, rt_text *out, char *why, size_t whylen)
{
    int col = -1;
    for (int c = 0; key && c < t->ncols; c++)
        if (!strcasecmp(key, t->cols[c]))
            col = c;
    if (key && col < 0) {
        size_t k = (size_t)snprintf(
            why, whylen, "rayc list %s: no column '%s' (", kind, key);
        for (int c = 0; c < t->ncols && k < whylen; c++)
            k += (size_t)snprintf(why + k, whylen - k, "%s%s", c ? ", " : "",
                                  t->cols[c]);
        if (k < whylen)
            snprintf(why + k, whylen - k, ")");
        rt_free(t->rows);
        return RAY_EINVAL;
    }
    size_t width[LIST_COLS] = {0};
    for (int c = 0; c < t->ncols; c++)
        width[c] = strlen(t->cols[c]);
    bool *keep = rt_calloc(t->n ? t->n : 1, sizeof(*keep));
    for (size_t i = 0; keep && i < t->n; i++) {
        keep[i] = col < 0 || !strcasecmp(t->rows[i].v[col], value);
        for (int c = 0; keep[i] && c < t->ncols; c++)
            if (strlen(t->rows[i].v[c]) > width[c])
                width[c] = strlen(t->rows[i].v[c]);
    }
    if (json)
        rt_text_put(out, "[");
    else
        for (int c = 0; c < t->ncols; c++)
            rt_text_put(out, "%-*s%s", (int)width[c], t->cols[c],
                        c + 1 < t->ncols ? "  " : "\n");
    bool first = true;
    for (size_t i = 0; keep && i < t->n; i++) {
        if (!keep[i])
            continue;
        if (json)
            rt_text_put(out, "%s{", first ? "" : ",");
        for (int c = 0; c < t->ncols; c++) {
            if (!json) {
                rt_text_put(out, "%-*s%s", (int)width[c], t->rows[i].v[c],
                            c + 1 < t->ncols ? "  " : "\n");
                continue;
            }
            rt_text_put(out, "%s\"%s\":", c ? "," : "", t->cols[c]);
            if (t->number[c])
                rt_text_put(out, "%s", t->rows[i].v[c]);
            else
                json_cstr(out, t->rows[i].v[c]);
        }
        if (json)
            rt_text_put(out, "}");
        first = false;
    }
    if (json)
        rt_text_put(out, "]\n");
    rt_free(keep);
    rt_free(t->rows);
    return RAY_OK;
}

ray_err
cl_view_list(const cl_view *v, const char *kind, const char *key,
             const char *value, bool json, rt_text *out, char *why,
             size_t whylen)
{
    table t;
    if (!fill(v, kind, &t)) {
        snprintf(why, whylen,
                 "rayc list %s: it lists nodes, actors, jobs, tasks, "
                 "objects and placement-groups",
                 kind);
        return RAY_EINVAL;
    }
    return print_table(&t, kind, key, value, json, out, why, whylen);
}

/* The drivers' rows (nf fields each, then the driver as the next
 * column) into t; how many rows they had beyond those they sent. */
static size_t
add_answers(table *t, size_t n, const char *const *whos,
            const char *const *texts, const size_t *lens, int nf)
{
    size_t more = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = texts[i], *end = p ? p + lens[i] : NULL;
        if (!p || p == end || *p == '?')
            continue; /* no answer, or one that did not know the request */
        size_t total = strtoull(p, NULL, 10), got = 0;
        p = memchr(p, '\n', (size_t)(end - p));
        while (p && ++p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *le = nl ? nl : end;
            row *r = add_row(t);
            if (!r)
                break;
            got++;
            int c = 0;
            for (const char *f = p; c < nf && f <= le; c++) {
                const char *tab = memchr(f, '\t', (size_t)(le - f));
                const char *fe = tab ? tab : le;
                snprintf(r->v[c], sizeof(r->v[c]), "%.*s", (int)(fe - f), f);
                f = fe + 1;
            }
            snprintf(r->v[nf], sizeof(r->v[nf]), "%s", whos[i]);
            p = nl;
        }
        if (total > got)
            more += total - got;
    }
    return more;
}

ray_err
cl_answers_list(const char *kind, size_t n, const char *const *whos,
                const char *const *texts, const size_t *lens, const char *key,
                const char *value, bool json, rt_text *out, size_t *more,
                char *why, size_t whylen)
{
    bool tasks = !strcmp(kind, "tasks");
    bool pgs = !strcmp(kind, "placement-groups");
    table t = tasks ? (table){{"task_id", "name", "state", "type", "node_id",
                               "worker_pid", "job"},
                              7,
                              {false, false, false, false, false, true, false},
                              NULL,
                              0,
                              0}
              : pgs ? (table){{"placement_group_id", "name", "strategy",
                               "state", "bundles", "nodes", "job"},
                              7,
                              {true, false, false, false, false, false, false},
                              NULL,
                              0,
                              0}
                    : (table){{"object_id", "state", "size", "location", "refs",
                               "task", "job"},
                              7,
                              {false, false, true, false, true, false, false},
                              NULL,
                              0,
                              0};
    *more = add_answers(&t, n, whos, texts, lens, 6);
    return print_table(&t, kind, key, value, json, out, why, whylen);
}

ray_err
cl_actors_list(const cl_view *v, size_t n, const char *const *whos,
               const char *const *texts, const size_t *lens, const char *key,
               const char *value, bool json, rt_text *out, size_t *more,
               char *why, size_t whylen)
{
    table t = {{"actor_id", "class_name", "state", "name", "node_id", "pid",
                "job", "detached"},
               8,
               {false, false, false, false, false, true, false, true},
               NULL,
               0,
               0};
    *more = add_answers(&t, n, whos, texts, lens, 6);
    size_t from_drivers = t.n;
    for (size_t i = 0; i < from_drivers; i++)
        snprintf(t.rows[i].v[7], sizeof(t.rows[i].v[7]), "false");
    /* The names the head holds ("JOB RAYLET KEY DETACHED"): a driver's
     * actor is detached or not; a detached one whose driver has gone is
     * listed from the head alone. */
    const Ray__Rpc__KvListReply *a = v ? v->actors : NULL;
    for (size_t i = 0; a && i < a->n_keys && i < a->n_values; i++) {
        char val[256], job[32] = "", addr[96] = "", name[160];
        unsigned k = 0;
        int det = 0;
        snprintf(val, sizeof(val), "%.*s", (int)a->values[i].len,
                 (const char *)a->values[i].data);
        sscanf(val, "%31s %95s %u %d", job, addr, &k, &det);
        snprintf(name, sizeof(name), "%.*s", (int)a->keys[i].len,
                 (const char *)a->keys[i].data);
        row *r = NULL;
        for (size_t j = 0; j < from_drivers && !r; j++)
            if (!strcmp(t.rows[j].v[3], name))
                r = &t.rows[j];
        if (!r && (r = add_row(&t))) {
            char id[57] = "-";
            for (size_t j = 0; v->nodes && j < v->nodes->n_nodes; j++) {
                char nid[57], na[96];
                cl_view_node(v->nodes->nodes[j], nid, na);
                if (!strcmp(na, addr)) {
                    snprintf(id, sizeof(id), "%s", nid);
                    break;
                }
            }
            snprintf(r->v[0], sizeof(r->v[0]), "-");
            snprintf(r->v[1], sizeof(r->v[1]), "-");
            /* The head knows the name; its node says whether it lives. */
            snprintf(r->v[2], sizeof(r->v[2]), "%s",
                     node_alive(v, addr) ? "ALIVE" : "DEAD");
            snprintf(r->v[3], sizeof(r->v[3]), "%s", name);
            snprintf(r->v[4], sizeof(r->v[4]), "%s", id);
            snprintf(r->v[5], sizeof(r->v[5]), "0");
            snprintf(r->v[6], sizeof(r->v[6]), "job %s", job);
        }
        if (r)
            snprintf(r->v[7], sizeof(r->v[7]), "%s", det ? "true" : "false");
    }
    return print_table(&t, "actors", key, value, json, out, why, whylen);
}
