/* SPDX-License-Identifier: Apache-2.0
 *
 * transport_shm.c: the embedded node's owner <-> worker transport
 * (sdk/transport.h). One memfd, created here and inherited by every
 * worker (never a name in /dev/shm: nothing can leak), holds the header
 * (sdk_shm_hdr: the doorbell, the store's path, the shutdown flag) and a
 * slot per worker: its control block and three SPSC rings (sdk/wire.h):
 *   sub   owner -> worker: task records
 *   comp  worker -> owner: results and requests
 *   reply owner -> worker: answers and pushed results
 * The memory is sparse: a slot's pages are touched when it is used.
 *
 * Replies never block and are never dropped: what does not fit the
 * reply ring is held here, in order, until the worker says it made room
 * (SDK_MSG_NUDGE, which stays inside the transport). After each reply
 * the worker's submission-ring futex is poked, where a blocked worker
 * sleeps. A result larger than a ring record arrives in fragments
 * (RT_RING_MORE) and is reassembled here.
 *
 * The worker's end of these rings is sdk/worker_main.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/log.h"
#include "sdk/sdk_int.h"
#include "sdk/transport.h"

/* A reply that did not fit the worker's reply ring. */
typedef struct shm_held {
    struct shm_held *next;
    uint32_t type;
    sdk_msg_done d;
    uint8_t payload[];
} shm_held;

typedef struct shm_chan {
    sdk_worker_ctl *ctl; /* NULL until the slot was first opened */
    rt_ring sub;         /* producer side */
    rt_ring comp;        /* consumer side */
    rt_ring reply;       /* producer side */
    shm_held *held, *held_tail;
    sdk_msg_done frag_hdr; /* a fragmented result being reassembled */
    uint8_t *frag;         /* its payload (rt_malloc), NULL if none */
    size_t frag_len;
} shm_chan;

typedef struct tx_shm {
    sdk_tx base;
    int memfd;
    void *shm;
    size_t shm_bytes;
    sdk_shm_hdr *hdr;
    int nslots, nworkers, ntask;
    uint64_t held_total;
    atomic_int store_told; /* one caller writes the store's path */
    shm_chan *ch;
} tx_shm;

#define TX(tx) ((tx_shm *)(void *)(tx))

/* Wake worker `c` if it sleeps on its submission ring. */
static void
poke(shm_chan *c)
{
    rt_ring_hdr *h = c->sub.hdr;
    atomic_fetch_add_explicit(&h->cons_seq, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&h->cons_sleeping, memory_order_seq_cst))
        rt_futex_wake(&h->cons_seq, 1);
}

/* ---- channels ---- */

static ray_err
chan_open(sdk_tx *tx, int w, char *env, size_t envlen, int *keep_fd)
{
    tx_shm *s = TX(tx);
    shm_chan *c = &s->ch[w];
    void *slot = sdk_slot_at(s->shm, (size_t)w);
    size_t rb = s->hdr->ring_bytes;
    if (w >= s->nworkers && w < s->ntask) {
        /* A stand-in: its rings are fresh memory. Fault them in with one
         * call (a page fault per 4 KiB as records first touch them costs
         * more than the tasks they carry). */
        (void)madvise(slot, s->hdr->slot_bytes, MADV_POPULATE_WRITE);
    }
    memset(slot, 0, sizeof(sdk_worker_ctl));
    for (int k = 0; k < 3; k++)
        rt_ring_format(sdk_slot_ring(slot, rb, k), rb);
    c->ctl = sdk_slot_ctl(slot);
    rt_ring_attach(&c->sub, sdk_slot_ring(slot, rb, 0));
    rt_ring_attach(&c->comp, sdk_slot_ring(slot, rb, 1));
    rt_ring_attach(&c->reply, sdk_slot_ring(slot, rb, 2));
    snprintf(env, envlen, SDK_ENV "=%d:%d:%d", s->memfd, w, (int)getpid());
    *keep_fd = s->memfd;
    return RAY_OK;
}

static void
drop_held(shm_chan *c)
{
    while (c->held) {
        shm_held *h = c->held;
        c->held = h->next;
        rt_free(h);
    }
    c->held_tail = NULL;
}

static void
chan_close(sdk_tx *tx, int w)
{
    tx_shm *s = TX(tx);
    shm_chan *c = &s->ch[w];
    /* It may have died blocked: its count goes with it. */
    if (c->ctl && atomic_exchange(&c->ctl->blocked, 0))
        atomic_fetch_sub(&s->hdr->bell.nblocked, 1);
    drop_held(c);
    rt_free(c->frag);
    c->frag = NULL;
}

/* ---- owner -> worker ---- */

static size_t
shm_max_record(sdk_tx *tx, int w)
{
    return rt_ring_max_record(&TX(tx)->ch[w].sub);
}

static void *
shm_reserve(sdk_tx *tx, int w, size_t len)
{
    return rt_ring_reserve(&TX(tx)->ch[w].sub, len);
}

static uint32_t
shm_commit(sdk_tx *tx, int w, uint32_t type, size_t len)
{
    rt_ring *r = &TX(tx)->ch[w].sub;
    uint32_t token = (uint32_t)r->pos;
    rt_ring_commit(r, type, len);
    return token;
}

static void
shm_flush(sdk_tx *tx, int w)
{
    rt_ring_publish(&TX(tx)->ch[w].sub);
}

/* The token is the record's position in the ring, low 32 bits. Its bytes
 * are still ours to read while the worker has not released them (head <=
 * that position): only this side writes the ring, under the owner's
 * lock, and the worker claims a record before it releases it. So the
 * claim word there is the record's own, and one CAS decides between the
 * two sides. */
static bool
shm_revoke(sdk_tx *tx, int w, uint32_t token, uint32_t type)
{
    rt_ring *r = &TX(tx)->ch[w].sub;
    /* The full position: the record lies less than a ring's length (at
     * most 256 MiB) behind the producer's. */
    uint64_t rpos = r->pos - (uint32_t)((uint32_t)r->pos - token);
    if (atomic_load_explicit(&r->hdr->head, memory_order_acquire) > rpos)
        return false; /* released: claimed long ago */
    size_t at = (size_t)((rpos + sizeof(rt_ring_rec)) & r->mask);
    at += type == SDK_MSG_MAP ? offsetof(sdk_msg_map, claim)
                              : offsetof(sdk_msg_task, claim);
    _Atomic uint32_t *claim = (_Atomic uint32_t *)(void *)(r->data + at);
    uint32_t open = SDK_CLAIM_OPEN;
    return atomic_compare_exchange_strong_explicit(
        claim, &open, SDK_CLAIM_REVOKED, memory_order_acq_rel,
        memory_order_acquire);
}

static bool
write_reply(shm_chan *c, uint32_t type, const sdk_msg_done *h,
            const void *payload)
{
    sdk_msg_done *d = rt_ring_reserve(&c->reply, sizeof(*d) + h->len);
    if (!d)
        return false;
    *d = *h;
    if (h->len)
        memcpy(d + 1, payload, h->len);
    rt_ring_commit(&c->reply, type, sizeof(*d) + h->len);
    return true;
}

/* Write the replies held back while the reply ring was full, as many as
 * fit now. */
static void
flush_held(shm_chan *c)
{
    bool wrote = false;
    while (c->held &&
           write_reply(c, c->held->type, &c->held->d, c->held->payload)) {
        shm_held *h = c->held;
        c->held = h->next;
        rt_free(h);
        wrote = true;
    }
    if (!c->held) {
        c->held_tail = NULL;
        atomic_store_explicit(&c->ctl->reply_backlog, 0, memory_order_relaxed);
    }
    if (wrote) {
        rt_ring_publish_quiet(&c->reply);
        poke(c);
    }
}

static void
shm_reply(sdk_tx *tx, int w, uint32_t as, uint64_t id, ray_err err,
          uint32_t vtype, uint64_t scalar, const void *payload, size_t len)
{
    static const char big[] = "value too large to hand to a task "
                              "(raise ray_config.ring_bytes)";
    tx_shm *s = TX(tx);
    shm_chan *c = &s->ch[w];
    if (sizeof(sdk_msg_done) + len > rt_ring_max_record(&c->reply)) {
        err = RAY_ETOOBIG;
        vtype = RAY_T_NONE;
        payload = big;
        len = sizeof(big);
    }
    sdk_msg_done h = {.task_id = id,
                      .err = (int32_t)err,
                      .type = vtype,
                      .scalar = scalar,
                      .len = len};
    if (!c->held && write_reply(c, as, &h, payload)) {
        rt_ring_publish_quiet(&c->reply);
        poke(c);
        return;
    }
    shm_held *hd = rt_malloc(sizeof(*hd) + len);
    if (!hd) {
        RT_LOG_RATELIMITED(RT_LOG_ERROR,
                           "out of memory holding a reply for "
                           "worker %d; request %llu dropped",
                           (int)c->ctl->pid, (unsigned long long)id);
        return;
    }
    hd->next = NULL;
    hd->type = as;
    hd->d = h;
    if (len)
        memcpy(hd->payload, payload, len);
    if (c->held_tail)
        c->held_tail->next = hd;
    else
        c->held = hd;
    c->held_tail = hd;
    s->held_total++;
    atomic_store_explicit(&c->ctl->reply_backlog, 1, memory_order_seq_cst);
    poke(c); /* a worker asleep on its ring re-checks the flag */
}

static void
shm_set_nested(sdk_tx *tx, int w, bool on)
{
    shm_chan *c = &TX(tx)->ch[w];
    atomic_store_explicit(&c->ctl->nested_ok, on, memory_order_release);
    if (on)
        poke(c);
}

static void
shm_trace(sdk_tx *tx, bool on)
{
    atomic_store_explicit(&TX(tx)->hdr->trace, on, memory_order_relaxed);
}

/* ---- worker -> owner ---- */

/* One fragment of a large result (RT_RING_MORE); the last one hands the
 * reassembled result to the sink. */
static void
take_fragment(shm_chan *c, int w, uint32_t type, const uint8_t *rec,
              uint32_t len, const sdk_tx_sink *sink, void *ctx)
{
    if (!c->frag) {
        if (len < sizeof(sdk_msg_done))
            return;
        c->frag_hdr = *(const sdk_msg_done *)rec;
        c->frag = rt_malloc(c->frag_hdr.len ? c->frag_hdr.len : 1);
        c->frag_len = 0;
        rec += sizeof(sdk_msg_done);
        len -= (uint32_t)sizeof(sdk_msg_done);
        if (!c->frag) {
            c->frag_hdr.err = RAY_ENOMEM;
            c->frag_hdr.len = 0;
        }
    }
    if (c->frag) {
        size_t room = c->frag_hdr.len - c->frag_len;
        size_t n = len < room ? len : room;
        memcpy(c->frag + c->frag_len, rec, n);
        c->frag_len += n;
    }
    if (type & RT_RING_MORE)
        return;
    uint8_t *buf = c->frag;
    c->frag = NULL;
    if (c->frag_hdr.err == RAY_ENOMEM && !buf) {
        static const char oom[] = "out of memory reassembling the result";
        c->frag_hdr.len = sizeof(oom);
        sink->done(ctx, w, &c->frag_hdr, oom, false);
        return;
    }
    sink->done(ctx, w, &c->frag_hdr, buf, true);
}

static size_t
shm_drain(sdk_tx *tx, int w, bool deep, const sdk_tx_sink *sink, void *ctx)
{
    shm_chan *c = &TX(tx)->ch[w];
    if (!c->ctl)
        return 0;
    if (deep)
        rt_ring_catch_up(&c->comp);
    if (c->held)
        flush_held(c);
    size_t n = 0;
    uint32_t type, len;
    const uint8_t *rec;
    while ((rec = rt_ring_peek(&c->comp, &type, &len))) {
        if (c->frag || (type & RT_RING_MORE)) {
            take_fragment(c, w, type, rec, len, sink, ctx);
            rt_ring_consume(&c->comp);
            rt_ring_release(&c->comp); /* let the worker write the next */
            n++;
            continue;
        }
        if (type == SDK_MSG_DONE) {
            if (len >= sizeof(sdk_msg_done)) {
                const sdk_msg_done *d = (const sdk_msg_done *)rec;
                sink->done(ctx, w, d, d + 1, false);
                n++;
            }
        } else if (type == SDK_MSG_TIMED) {
            /* The times first: the event is kept before the result. */
            const size_t tl = sizeof(sdk_msg_trace);
            if (len >= sizeof(sdk_msg_done) + tl) {
                const sdk_msg_done *d = (const sdk_msg_done *)rec;
                sink->request(ctx, w, SDK_MSG_TRACE, rec + len - tl,
                              (uint32_t)tl);
                sink->done(ctx, w, d, d + 1, false);
                n++;
            }
        } else if (type == SDK_MSG_NUDGE) {
            flush_held(c);
            n++;
        } else {
            sink->request(ctx, w, type, rec, len);
            n++;
        }
        rt_ring_consume(&c->comp);
    }
    if (n)
        rt_ring_release(&c->comp);
    return n;
}

static void
shm_worker(sdk_tx *tx, int w, sdk_tx_worker *out)
{
    sdk_worker_ctl *ctl = TX(tx)->ch[w].ctl;
    if (!ctl) {
        *out = (sdk_tx_worker){0};
        return;
    }
    out->ready = atomic_load(&ctl->state) == SDK_W_READY;
    out->pid = ctl->pid;
    out->current = atomic_load(&ctl->current);
    out->blocked = atomic_load_explicit(&ctl->blocked, memory_order_acquire);
}

static uint64_t
shm_held_total(sdk_tx *tx)
{
    return TX(tx)->held_total;
}

/* ---- the node ---- */

/* Workers read the path once the state says READY. The first caller
 * writes it (others would write the same bytes, but concurrently); the
 * state only goes NONE -> READY/FAILED. */
static void
shm_store_ready(sdk_tx *tx, const char *path)
{
    sdk_shm_hdr *h = TX(tx)->hdr;
    uint32_t none = SDK_STORE_NONE;
    if (atomic_exchange(&TX(tx)->store_told, 1))
        return;
    if (path) {
        snprintf(h->store_path, sizeof(h->store_path), "%s", path);
        atomic_compare_exchange_strong(&h->store_state, &none, SDK_STORE_READY);
    } else {
        atomic_compare_exchange_strong(&h->store_state, &none,
                                       SDK_STORE_FAILED);
    }
    rt_futex_wake(&h->store_state, 0x7fffffff);
}

static void
shm_shutdown(sdk_tx *tx)
{
    tx_shm *s = TX(tx);
    atomic_store(&s->hdr->shutdown, 1);
    sdk_bell_wake(&s->hdr->bell);
    /* Wake idle workers; they see the shutdown flag and exit. */
    for (int w = 0; w < s->nslots; w++) {
        rt_ring_hdr *rh = s->ch[w].sub.hdr;
        if (!rh)
            continue; /* a slot never used */
        atomic_fetch_add(&rh->cons_seq, 1);
        rt_futex_wake(&rh->cons_seq, 1);
    }
}

static void
shm_destroy(sdk_tx *tx)
{
    tx_shm *s = TX(tx);
    if (!s)
        return;
    for (int w = 0; s->ch && w < s->nslots; w++) {
        drop_held(&s->ch[w]);
        rt_free(s->ch[w].frag);
    }
    rt_free(s->ch);
    if (s->shm)
        munmap(s->shm, s->shm_bytes);
    if (s->memfd >= 0)
        close(s->memfd);
    rt_free(s);
}

static const sdk_tx_ops shm_ops = {
    .open = chan_open,
    .close = chan_close,
    .max_record = shm_max_record,
    .reserve = shm_reserve,
    .commit = shm_commit,
    .flush = shm_flush,
    .revoke = shm_revoke,
    .reply = shm_reply,
    .set_nested = shm_set_nested,
    .trace = shm_trace,
    .drain = shm_drain,
    .worker = shm_worker,
    .held_total = shm_held_total,
    .store_ready = shm_store_ready,
    .shutdown = shm_shutdown,
    .destroy = shm_destroy,
};

ray_err
sdk_tx_shm_create(const sdk_tx_shm_config *cfg, sdk_tx **out)
{
    *out = NULL;
    tx_shm *s = rt_calloc(1, sizeof(*s));
    if (!s || !(s->ch = rt_calloc((size_t)cfg->nslots, sizeof(shm_chan)))) {
        rt_free(s);
        return sdk_fail(RAY_ENOMEM, "ray_init: out of memory");
    }
    s->base.ops = &shm_ops;
    s->nslots = cfg->nslots;
    s->nworkers = cfg->nworkers;
    s->ntask = cfg->ntask;
    size_t slot_bytes = sdk_slot_bytes(cfg->ring_bytes);
    s->shm_bytes =
        (sizeof(sdk_shm_hdr) + slot_bytes * (size_t)s->nslots + 4095) &
        ~(size_t)4095; /* sparse: touched on use */
    s->memfd = memfd_create("rayc-shm", MFD_CLOEXEC);
    if (s->memfd < 0 || ftruncate(s->memfd, (off_t)s->shm_bytes) != 0) {
        ray_err e = sdk_fail(rt_err_from_errno(errno), "ray_init: memfd: %s",
                             strerror(errno));
        shm_destroy(&s->base);
        return e;
    }
    s->shm = mmap(NULL, s->shm_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
                  s->memfd, 0);
    if (s->shm == MAP_FAILED) {
        s->shm = NULL;
        ray_err e = sdk_fail(rt_err_from_errno(errno), "ray_init: mmap: %s",
                             strerror(errno));
        shm_destroy(&s->base);
        return e;
    }
    sdk_shm_hdr *h = s->hdr = s->shm;
    h->magic = SDK_MAGIC;
    h->nslots = (uint32_t)s->nslots;
    h->ntask = (uint32_t)s->ntask;
    h->slot_bytes = slot_bytes;
    h->ring_bytes = cfg->ring_bytes;
    h->driver_pid = (int32_t)getpid();
    h->spin_us = cfg->spin_us;
    memcpy(h->store_prefix, cfg->store_prefix, sizeof(h->store_prefix));
    h->ref_tag = cfg->ref_tag;
    s->base.bell = &h->bell;
    s->base.node_id = h->node_id;
    *out = &s->base;
    return RAY_OK;
}
