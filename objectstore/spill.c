/* SPDX-License-Identifier: Apache-2.0
 *
 * spill.c: move unpinned primary copies to local disk and back.
 *
 * When eviction cannot make room, the store spills sealed, unpinned
 * primary objects, least recently used first, into ONE new file per round
 * (small objects are fused: a round covers at least spill_min_bytes), then
 * frees their memory; the slots stay in the index as SPILLED with the file
 * number and offset, so a later get finds them and asks the store to
 * restore them (store_core_restore). A file is unlinked when its last
 * object is restored or deleted. If a write fails (disk full), every
 * object of the round goes back to SEALED in memory and nothing is lost;
 * the caller gets the error, so the one that fails a request can say that
 * the spill directory is full rather than that memory is.
 *
 * A restore must not need new disk space: when memory is full, the
 * spilled object first trades places with one unpinned object in memory
 * (store_spill_swap): that object is written over the restored one's
 * range of its spill file (blocks the file already has) while the
 * restored one is read into its allocation, through a 1 MiB bounce
 * buffer, so a full disk does not stop objects from being read back.
 * Only when no object can trade places (none small enough to fit the
 * range, or none whose allocation holds the restored one) does a restore
 * spill to a new file like a create would.
 *
 * Writes go through store_spill_ops (tests inject ENOSPC there).
 *
 * Runs under core->mu on the thread that needs the room. TODO(store):
 * the I/O happens with the mutex held; a background spiller would let
 * other requests proceed during a large spill.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "objectstore/store_int.h"
#include "runtime/alloc.h"
#include "runtime/log.h"

typedef struct spill_item {
    uint64_t t;
    uint32_t slot;
} spill_item;

static int
item_cmp(const void *a, const void *b)
{
    const spill_item *x = a, *y = b;
    return (x->t > y->t) - (x->t < y->t);
}

static void
file_path(store_core *c, uint32_t f, char *buf, size_t len)
{
    snprintf(buf, len, "%s/spill-%d-%u.bin", c->spill_dir, (int)getpid(), f);
}

#define SWAP_CHUNK (1u << 20)

static ssize_t
sys_pwrite(void *arg, int fd, const void *buf, size_t n, off_t off)
{
    (void)arg;
    return pwrite(fd, buf, n, off);
}

const store_spill_ops store_spill_sys_ops = {.pwrite = sys_pwrite};

static ray_err
write_all(store_core *c, int fd, const uint8_t *p, uint64_t n, uint64_t off)
{
    while (n > 0) {
        size_t chunk = n > (1ull << 30) ? (1ull << 30) : (size_t)n;
        ssize_t w =
            c->spill_ops.pwrite(c->spill_ops.arg, fd, p, chunk, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? rt_err_from_errno(errno) : RAY_ESYSERR;
        p += w;
        n -= (uint64_t)w;
        off += (uint64_t)w;
    }
    return RAY_OK;
}

/* Pick a file number: reuse a dead entry or grow the table. */
static int64_t
new_file_entry(store_core *c)
{
    for (uint32_t i = 0; i < c->nspill_files; i++)
        if (c->spill_files[i].fd < 0)
            return i;
    if (c->nspill_files == c->spill_cap) {
        uint32_t cap = c->spill_cap ? c->spill_cap * 2 : 16;
        void *p = rt_realloc(c->spill_files, cap * sizeof *c->spill_files);
        if (!p)
            return -1;
        c->spill_files = p;
        c->spill_cap = cap;
    }
    c->spill_files[c->nspill_files].fd = -1;
    return c->nspill_files++;
}

uint64_t
store_spill(store_core *c, uint64_t need, ray_err *err)
{
    *err = RAY_OK;
    if (!c->spill_dir)
        return 0;
    uint32_t n = c->table.nslots, m = 0, taken = 0;
    spill_item *v = rt_malloc((size_t)n * sizeof *v);
    if (!v)
        return 0;
    for (uint32_t i = 0; i < n; i++) {
        store_slot *s = &c->slots[i];
        store_meta *md = &c->meta[i];
        if (md->state == STORE_META_MEM && !(md->flags & STORE_OBJ_SECONDARY) &&
            atomic_load(&s->state) == STORE_SLOT_SEALED &&
            !store_slot_pinned(s))
            v[m++] = (spill_item){atomic_load(&s->last_access), i};
    }
    qsort(v, m, sizeof *v, item_cmp);
    uint64_t target = need > c->spill_min_bytes ? need : c->spill_min_bytes;
    uint64_t freed = 0, written = 0;
    for (uint32_t i = 0; i < m && freed < target; i++) {
        store_slot *s = &c->slots[v[i].slot];
        if (!store_slot_claim(s, STORE_SLOT_SEALED))
            continue;
        v[taken++] = v[i]; /* compact the claimed ones to the front */
        freed += c->meta[v[i].slot].alloc_size;
    }
    if (taken == 0) {
        rt_free(v);
        return 0;
    }
    char path[4096];
    int64_t f = new_file_entry(c);
    int fd = -1;
    ray_err rc = RAY_ENOMEM;
    if (f < 0)
        goto fail;
    file_path(c, (uint32_t)f, path, sizeof path);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = rt_err_from_errno(errno);
        goto fail;
    }
    for (uint32_t i = 0; i < taken; i++) {
        store_meta *md = &c->meta[v[i].slot];
        uint64_t len = md->data_size + md->meta_size;
        rc = write_all(c, fd, c->base + md->offset, len, written);
        if (rc != RAY_OK)
            goto fail;
        md->spill_off = written;
        written += len;
    }
    store_spill_file *sf = &c->spill_files[f];
    sf->fd = fd;
    sf->live = taken;
    sf->bytes = written;
    store_counters *k = &c->k;
    for (uint32_t i = 0; i < taken; i++) {
        store_slot *s = &c->slots[v[i].slot];
        store_meta *md = &c->meta[v[i].slot];
        store_arena_free(c->arena, c->base + md->offset);
        k->bytes_used -= md->alloc_size;
        k->objects_spilled++;
        k->bytes_spilled += md->data_size + md->meta_size;
        md->state = STORE_META_SPILLED;
        md->spill_file = (uint32_t)f;
        md->alloc_size = 0;
        md->offset = 0;
        s->offset = 0;
        atomic_store(&s->state, STORE_SLOT_SPILLED);
    }
    k->spills += taken;
    rt_free(v);
    store_table_notify(&c->table);
    RT_DEBUG("object store: spilled %u object(s), %llu bytes, to %s", taken,
             (unsigned long long)written, path);
    return freed;
fail:
    *err = rc;
    RT_LOG_RATELIMITED(RT_LOG_WARN,
                       "object store: cannot spill to %s: %s; objects stay "
                       "in memory",
                       c->spill_dir, rt_strerror(rc));
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
    for (uint32_t i = 0; i < taken; i++)
        atomic_store(&c->slots[v[i].slot].state, STORE_SLOT_SEALED);
    rt_free(v);
    store_table_notify(&c->table);
    return 0;
}

static ray_err
read_all(int fd, uint8_t *dst, uint64_t n, uint64_t off)
{
    while (n > 0) {
        size_t chunk = n > (1ull << 30) ? (1ull << 30) : (size_t)n;
        ssize_t r = pread(fd, dst, chunk, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? rt_err_from_errno(errno) : RAY_EOBJECT_LOST;
        dst += r;
        n -= (uint64_t)r;
        off += (uint64_t)r;
    }
    return RAY_OK;
}

ray_err
store_spill_read(store_core *c, const store_meta *m, uint8_t *dst)
{
    if (m->spill_file >= c->nspill_files ||
        c->spill_files[m->spill_file].fd < 0)
        return RAY_EINTERNAL;
    return read_all(c->spill_files[m->spill_file].fd, dst,
                    m->data_size + m->meta_size, m->spill_off);
}

/* The unpinned sealed primary objects that could trade places with a
 * spilled object of `xbytes` bytes, least recently used first. */
static uint32_t
swap_candidates(store_core *c, uint64_t xbytes, spill_item *v)
{
    uint32_t m = 0;
    for (uint32_t i = 0; i < c->table.nslots; i++) {
        store_meta *md = &c->meta[i];
        store_slot *s = &c->slots[i];
        if (md->state == STORE_META_MEM && !(md->flags & STORE_OBJ_SECONDARY) &&
            md->data_size + md->meta_size <= xbytes &&
            md->alloc_size >= xbytes &&
            atomic_load(&s->state) == STORE_SLOT_SEALED &&
            !store_slot_pinned(s))
            v[m++] = (spill_item){atomic_load(&s->last_access), i};
    }
    qsort(v, m, sizeof *v, item_cmp);
    return m;
}

/* Trade the first `done` bytes back: chunk by chunk, y's bytes from the
 * file to memory and x's from memory to the file. Returns false if an
 * I/O failed (both objects are then damaged). */
static bool
swap_undo(store_core *c, int fd, uint64_t foff, uint8_t *mem, uint64_t done,
          uint64_t xbytes, uint64_t ybytes, uint8_t *bounce)
{
    for (uint64_t p = 0; p < done; p += SWAP_CHUNK) {
        uint64_t kx = p < xbytes ? xbytes - p : 0;
        uint64_t ky = p < ybytes ? ybytes - p : 0;
        kx = kx > SWAP_CHUNK ? SWAP_CHUNK : kx;
        ky = ky > SWAP_CHUNK ? SWAP_CHUNK : ky;
        if (read_all(fd, bounce, ky, foff + p) != RAY_OK ||
            write_all(c, fd, mem + p, ky, foff + p) != RAY_OK)
            return false;
        memcpy(mem + p, bounce, ky);
        (void)kx; /* x's bytes past y's length never left the file */
    }
    return true;
}

/* Trade x's `xbytes` at `foff` of file `fd` with y's `ybytes` (<= xbytes)
 * at `mem` (an allocation that holds xbytes). Chunk p: x's bytes into the
 * bounce buffer, y's over them in the file, then x's into y's memory;
 * past y's length only x moves. On failure everything is traded back and
 * the I/O error returned (RAY_EOBJECT_LOST, logged, if even that fails). */
static ray_err
swap_bytes(store_core *c, int fd, uint64_t foff, uint8_t *mem, uint64_t xbytes,
           uint64_t ybytes, uint8_t *bounce)
{
    for (uint64_t p = 0; p < xbytes; p += SWAP_CHUNK) {
        uint64_t kx = xbytes - p > SWAP_CHUNK ? SWAP_CHUNK : xbytes - p;
        uint64_t ky = p < ybytes ? ybytes - p : 0;
        ky = ky > SWAP_CHUNK ? SWAP_CHUNK : ky;
        ray_err rc = read_all(fd, bounce, kx, foff + p);
        bool read_x = rc == RAY_OK;
        if (read_x)
            rc = write_all(c, fd, mem + p, ky, foff + p);
        if (rc == RAY_OK) {
            memcpy(mem + p, bounce, kx);
            continue;
        }
        /* A failed write may have left part of y at p: put x's chunk back
         * (a failed read wrote nothing), then the earlier chunks. */
        bool undone =
            (!read_x || write_all(c, fd, bounce, kx, foff + p) == RAY_OK) &&
            swap_undo(c, fd, foff, mem, p, xbytes, ybytes, bounce);
        if (!undone) {
            RT_ERROR("object store: a restore that traded places failed "
                     "(%s) and could not be undone; two objects are damaged",
                     rt_strerror(rc));
            return RAY_EOBJECT_LOST;
        }
        return rc;
    }
    return RAY_OK;
}

ray_err
store_spill_swap(store_core *c, uint32_t x, char *msg, size_t msglen)
{
    store_meta *xm = &c->meta[x];
    uint64_t xbytes = xm->data_size + xm->meta_size;
    if (xm->state != STORE_META_SPILLED || xbytes == 0 ||
        xm->spill_file >= c->nspill_files ||
        c->spill_files[xm->spill_file].fd < 0)
        return RAY_ENOTFOUND;
    int fd = c->spill_files[xm->spill_file].fd;
    spill_item *v = rt_malloc((size_t)c->table.nslots * sizeof *v);
    uint8_t *bounce = rt_malloc(SWAP_CHUNK);
    ray_err rc = RAY_ENOTFOUND;
    if (!v || !bounce) {
        rc = RAY_ENOTFOUND; /* no swap: the caller falls back to a spill */
        goto out;
    }
    uint32_t n = swap_candidates(c, xbytes, v);
    int64_t y = -1;
    for (uint32_t i = 0; i < n && y < 0; i++)
        if (store_slot_claim(&c->slots[v[i].slot], STORE_SLOT_SEALED))
            y = v[i].slot;
    if (y < 0)
        goto out;
    store_meta *ym = &c->meta[y];
    uint64_t ybytes = ym->data_size + ym->meta_size; /* <= xbytes */
    uint64_t foff = xm->spill_off;
    rc = swap_bytes(c, fd, foff, c->base + ym->offset, xbytes, ybytes, bounce);
    if (rc != RAY_OK) {
        atomic_store(&c->slots[y].state, STORE_SLOT_SEALED);
        snprintf(msg, msglen,
                 "cannot trade a spilled object's place in %s "
                 "with one in memory: %s",
                 c->spill_dir, rt_strerror(rc));
        goto out;
    }
    /* x takes y's allocation; y takes x's place in the file (whose count
     * of live objects does not change). */
    store_counters *k = &c->k;
    xm->state = STORE_META_MEM;
    xm->offset = ym->offset;
    xm->alloc_size = ym->alloc_size;
    ym->state = STORE_META_SPILLED;
    ym->spill_file = xm->spill_file;
    ym->spill_off = foff;
    ym->offset = 0;
    ym->alloc_size = 0;
    k->bytes_spilled += ybytes;
    k->bytes_spilled -= xbytes;
    k->spills++;
    c->slots[y].offset = 0;
    atomic_store(&c->slots[y].state, STORE_SLOT_SPILLED);
    RT_DEBUG("object store: a restore of %llu bytes traded places with an "
             "object of %llu bytes",
             (unsigned long long)xbytes, (unsigned long long)ybytes);
    rc = RAY_OK;
out:
    rt_free(bounce);
    rt_free(v);
    return rc;
}

void
store_spill_drop(store_core *c, store_meta *m)
{
    store_counters *k = &c->k;
    k->objects_spilled--;
    k->bytes_spilled -= m->data_size + m->meta_size;
    if (m->spill_file >= c->nspill_files)
        return;
    store_spill_file *f = &c->spill_files[m->spill_file];
    if (f->fd >= 0 && --f->live == 0) {
        char path[4096];
        file_path(c, m->spill_file, path, sizeof path);
        close(f->fd);
        unlink(path);
        f->fd = -1;
    }
}

void
store_spill_fini(store_core *c)
{
    for (uint32_t i = 0; i < c->nspill_files; i++) {
        if (c->spill_files[i].fd < 0)
            continue;
        char path[4096];
        file_path(c, i, path, sizeof path);
        close(c->spill_files[i].fd);
        unlink(path);
    }
    rt_free(c->spill_files);
    c->spill_files = NULL;
    c->nspill_files = c->spill_cap = 0;
}
