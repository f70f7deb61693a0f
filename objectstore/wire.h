/* SPDX-License-Identifier: Apache-2.0
 *
 * wire.h: the store's socket messages (client <-> store server).
 *
 * TODO(store): these are fixed-size binary records for now; they will be
 * replaced by the protobuf messages of runtime/protocol/object_store.proto
 * once the framing layer (runtime/frame.h) lands. Every request is one
 * store_wire_req of exactly sizeof(store_wire_req) bytes; every reply one
 * store_wire_reply. The server closes a connection that sends anything
 * else (bad magic, bad length, unknown type, a request before HELLO).
 * Only the socket path needs these: get, release, seal and contains never
 * leave shared memory.
 */
#ifndef RAY_OBJECTSTORE_WIRE_H
#define RAY_OBJECTSTORE_WIRE_H

#include <stdint.h>

#include "objectstore/layout.h"

#define STORE_WIRE_MAGIC 0x31545352u /* "RST1" little-endian */

enum store_wire_type {
    STORE_WIRE_HELLO = 1,   /* pid; reply carries the memfd (SCM_RIGHTS) */
    STORE_WIRE_CREATE = 2,  /* id, data_size, meta_size, flags */
    STORE_WIRE_ABORT = 3,   /* id */
    STORE_WIRE_DELETE = 4,  /* id */
    STORE_WIRE_RESTORE = 5, /* id: restore a spilled object and pin it */
    STORE_WIRE_STATS = 6,
    STORE_WIRE_TYPE_MAX = 6,
};

typedef struct store_wire_req {
    uint32_t magic;      /* STORE_WIRE_MAGIC */
    uint32_t type;       /* enum store_wire_type */
    uint32_t len;        /* sizeof(store_wire_req) */
    uint32_t flags;      /* STORE_CREATE_* for CREATE */
    uint8_t id[STORE_ID_SIZE];
    uint32_t pid;        /* HELLO: the client's pid */
    uint64_t data_size;
    uint64_t meta_size;
} store_wire_req;
_Static_assert(sizeof(store_wire_req) == 64, "request layout");

typedef struct store_wire_reply {
    uint32_t magic;
    uint32_t type;       /* echoes the request */
    int32_t status;      /* ray_err */
    uint32_t slot;       /* CREATE/RESTORE: the object's slot */
    uint64_t offset;     /* CREATE/RESTORE: payload offset in the region */
    uint64_t region_size;/* HELLO */
    uint32_t client;     /* HELLO: the client's index */
    uint32_t clients;    /* STATS */
    uint64_t stats[10];  /* STATS: store_stats fields in order */
    char msg[192];       /* NUL-terminated reason when status != 0 */
} store_wire_reply;
_Static_assert(sizeof(store_wire_reply) == 312, "reply layout");

#endif /* RAY_OBJECTSTORE_WIRE_H */
