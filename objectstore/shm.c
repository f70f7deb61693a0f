/* SPDX-License-Identifier: Apache-2.0
 *
 * shm.c: memfd creation, reservation and mapping for the object store.
 *
 * The region is created once per node by the store and mapped by every
 * client. Memory is committed as it is first used, not at creation (which
 * cost ~0.3 s and the whole capacity in RAM per GiB, for a store most
 * programs barely touch): the store calls store_shm_reserve (fallocate)
 * on each range before it hands the range out, so a full /dev/shm or
 * memory cgroup is reported as RAY_ESTORE_FULL at create time rather than
 * as SIGBUS on a later write. Mappings are not populated whole either;
 * store_shm_prefault builds the page tables of each new object's range,
 * so writes still run at memcpy speed.
 * Transparent huge pages for shmem are used when the kernel allows them
 * (MADV_HUGEPAGE is advisory and ignored otherwise).
 */
#include "objectstore/shm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <stdint.h>
#include <unistd.h>

#define TWO_MIB (2ull << 20)

uint64_t
store_shm_default_capacity(void)
{
    struct sysinfo si;
    uint64_t ram = 1ull << 30;
    if (sysinfo(&si) == 0)
        ram = (uint64_t)si.totalram * si.mem_unit;
    uint64_t cap = ram / 10 * 3;
    struct statvfs vfs;
    if (statvfs("/dev/shm", &vfs) == 0) {
        uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
        if (avail < cap)
            cap = avail;
    }
    cap &= ~(TWO_MIB - 1);
    if (cap < (64ull << 20) && ram >= (256ull << 20))
        cap = 64ull << 20;
    return cap;
}

ray_err
store_shm_create(uint64_t size, int *fd_out, char *err, size_t errlen)
{
    long page = sysconf(_SC_PAGESIZE);
    size = (size + (uint64_t)page - 1) & ~((uint64_t)page - 1);
    int fd = memfd_create("rayc-object-store", MFD_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (err)
            snprintf(err, errlen, "memfd_create: %s", strerror(e));
        return rt_err_from_errno(e);
    }
    if (ftruncate(fd, (off_t)size) != 0) {
        int e = errno;
        if (err)
            snprintf(err, errlen, "ftruncate(%llu): %s",
                     (unsigned long long)size, strerror(e));
        close(fd);
        return rt_err_from_errno(e);
    }
    *fd_out = fd;
    return RAY_OK;
}

ray_err
store_shm_reserve(int fd, uint64_t off, uint64_t len, char *err, size_t errlen)
{
    int rc;
    do {
        rc = fallocate(fd, 0, (off_t)off, (off_t)len);
    } while (rc != 0 && errno == EINTR);
    if (rc == 0)
        return RAY_OK;
    int e = errno;
    if (e == ENOSPC || e == ENOMEM) {
        if (err)
            snprintf(err, errlen,
                     "cannot commit %llu more bytes of shared memory for the "
                     "object store (%s); free /dev/shm or memory, or lower "
                     "the store capacity",
                     (unsigned long long)len, strerror(e));
        return RAY_ESTORE_FULL;
    }
    if (err)
        snprintf(err, errlen, "fallocate: %s", strerror(e));
    return rt_err_from_errno(e);
}

ray_err
store_shm_map(int fd, uint64_t size, bool writable, void **out)
{
    int prot = PROT_READ | (writable ? PROT_WRITE : 0);
    int flags = MAP_SHARED | MAP_FIXED;
    /* Reserve address space with 2 MiB of slack and place the mapping on
     * a 2 MiB boundary: the heap's first jemalloc blocks are 2 MiB
     * aligned, and huge pages (where enabled) need it too. */
    uint64_t span = size + TWO_MIB;
    uint8_t *r = mmap(NULL, span, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED)
        return rt_err_from_errno(errno);
    uint8_t *a = (uint8_t *)(((uintptr_t)r + TWO_MIB - 1) & ~(TWO_MIB - 1));
    void *p = mmap(a, size, prot, flags, fd, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        munmap(r, span);
        return rt_err_from_errno(e);
    }
    if (a > r)
        munmap(r, (size_t)(a - r));
    uint8_t *end = a + ((size + 4095) & ~4095ull);
    if (end < r + span)
        munmap(end, (size_t)(r + span - end));
    (void)madvise(p, size, MADV_HUGEPAGE);
    *out = p;
    return RAY_OK;
}

ray_err
store_shm_protect(void *p, uint64_t len)
{
    if (len && mprotect(p, len, PROT_READ) != 0)
        return rt_err_from_errno(errno);
    return RAY_OK;
}

void
store_shm_unmap(void *p, uint64_t size)
{
    if (p)
        munmap(p, size);
}

void
store_shm_prefault(void *p, uint64_t len)
{
    uintptr_t page = 4096;
    uintptr_t a = (uintptr_t)p & ~(page - 1);
    uintptr_t e = ((uintptr_t)p + len + page - 1) & ~(page - 1);
#ifdef MADV_POPULATE_WRITE
    (void)madvise((void *)a, e - a, MADV_POPULATE_WRITE);
#else
    (void)a;
    (void)e;
#endif
}
