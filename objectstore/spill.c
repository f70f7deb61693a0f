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
 * object of the round goes back to SEALED in memory and nothing is lost.
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

static ray_err
write_all(int fd, const uint8_t *p, uint64_t n, uint64_t off)
{
    while (n > 0) {
        size_t chunk = n > (1ull << 30) ? (1ull << 30) : (size_t)n;
        ssize_t w = pwrite(fd, p, chunk, (off_t)off);
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
store_spill(store_core *c, uint64_t need)
{
    if (!c->spill_dir)
        return 0;
    uint32_t n = c->table.nslots, m = 0, taken = 0;
    spill_item *v = rt_malloc((size_t)n * sizeof *v);
    if (!v)
        return 0;
    for (uint32_t i = 0; i < n; i++) {
        store_slot *s = &c->slots[i];
        store_meta *md = &c->meta[i];
        if (md->state == STORE_META_MEM &&
            !(md->flags & STORE_OBJ_SECONDARY) &&
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
        rc = write_all(fd, c->base + md->offset, len, written);
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
    RT_LOG_RATELIMITED(RT_LOG_WARN,
                       "object store: cannot spill to %s: %s; objects stay "
                       "in memory", c->spill_dir, rt_strerror(rc));
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

ray_err
store_spill_read(store_core *c, const store_meta *m, uint8_t *dst)
{
    if (m->spill_file >= c->nspill_files || c->spill_files[m->spill_file].fd < 0)
        return RAY_EINTERNAL;
    int fd = c->spill_files[m->spill_file].fd;
    uint64_t n = m->data_size + m->meta_size, off = m->spill_off;
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
