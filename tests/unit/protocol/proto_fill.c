/* SPDX-License-Identifier: Apache-2.0
 *
 * proto_fill.c: reflection-driven message filler and deep comparison for
 * protocol tests and fuzz seeds (see proto_fill.h).
 */
#include "tests/unit/protocol/proto_fill.h"

#include <stdio.h>
#include <string.h>

#include "runtime/alloc.h"

/* Byte size of one value of a field's type in a message struct. */
static size_t
value_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    }
    return 0;
}

static uint32_t
mix(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

/* Set one value at `p`; false on allocation failure. */
static bool
fill_value(const ProtobufCFieldDescriptor *f, void *p, uint32_t seed, int depth)
{
    uint32_t v = mix(seed * 131u + f->id);
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: {
        int32_t x = (int32_t)(v % 100000u) - 50000;
        *(int32_t *)p = x ? x : 7;
        return true;
    }
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        *(uint32_t *)p = v | 1u;
        return true;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        *(int64_t *)p = -(int64_t)v * 1000003LL - 1;
        return true;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        *(uint64_t *)p = ((uint64_t)v << 32) | mix(v) | 1u;
        return true;
    case PROTOBUF_C_TYPE_FLOAT:
        *(float *)p = (float)(v % 1000u) + 0.5f;
        return true;
    case PROTOBUF_C_TYPE_DOUBLE:
        *(double *)p = (double)v / 7.0 + 0.25;
        return true;
    case PROTOBUF_C_TYPE_BOOL:
        *(protobuf_c_boolean *)p = 1;
        return true;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *e = f->descriptor;
        *(int *)p = e->values[v % e->n_values].value;
        return true;
    }
    case PROTOBUF_C_TYPE_STRING: {
        char tmp[48];
        snprintf(tmp, sizeof(tmp), "%s-%u", f->name, v % 100000u);
        char *s = rt_strdup(tmp);
        *(char **)p = s;
        return s != NULL;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = p;
        size_t n = 1 + v % 40;
        b->data = rt_malloc(n);
        if (b->data == NULL)
            return false;
        for (size_t i = 0; i < n; i++)
            b->data[i] = (uint8_t)mix(v + (uint32_t)i); /* zeros included */
        b->len = n;
        return true;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        ProtobufCMessage *m =
            rt_test_proto_fill(f->descriptor, v, depth > 0 ? depth - 1 : -1);
        *(ProtobufCMessage **)p = m;
        return m != NULL;
    }
    }
    return false;
}

/* For a oneof member: its index among the members sharing its case field,
 * and their count. */
static void
oneof_position(const ProtobufCMessageDescriptor *d, unsigned fi,
               unsigned *index, unsigned *count)
{
    *index = *count = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        if (!(d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
            d->fields[i].quantifier_offset != d->fields[fi].quantifier_offset)
            continue;
        if (i == fi)
            *index = *count;
        (*count)++;
    }
}

ProtobufCMessage *
rt_test_proto_fill(const ProtobufCMessageDescriptor *d, uint32_t seed,
                   int depth)
{
    ProtobufCMessage *m = rt_malloc(d->sizeof_message);
    if (m == NULL)
        return NULL;
    d->message_init(m);
    if (depth < 0)
        return m; /* below the depth limit: an empty message */
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char *base = (char *)m;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = 1 + mix(seed + f->id) % 3;
            size_t sz = value_size(f);
            char *arr = rt_calloc(n, sz);
            if (arr == NULL)
                goto fail;
            *(void **)(base + f->offset) = arr;
            for (size_t k = 0; k < n; k++) {
                if (!fill_value(f, arr + k * sz, seed + (uint32_t)k * 17u,
                                depth)) {
                    /* Count only the elements that were set. */
                    *(size_t *)(base + f->quantifier_offset) = k;
                    goto fail;
                }
                *(size_t *)(base + f->quantifier_offset) = k + 1;
            }
            continue;
        }
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            unsigned idx, cnt;
            oneof_position(d, i, &idx, &cnt);
            if (idx != mix(seed ^ f->quantifier_offset) % cnt)
                continue;
            if (f->type == PROTOBUF_C_TYPE_MESSAGE && depth == 0)
                continue;
            if (!fill_value(f, base + f->offset, seed, depth))
                goto fail;
            *(uint32_t *)(base + f->quantifier_offset) = f->id;
            continue;
        }
        if (f->type == PROTOBUF_C_TYPE_MESSAGE && depth == 0)
            continue; /* leave singular submessages NULL at the bottom */
        if (!fill_value(f, base + f->offset, seed, depth))
            goto fail;
        if (f->label == PROTOBUF_C_LABEL_OPTIONAL &&
            f->quantifier_offset != 0 && f->type != PROTOBUF_C_TYPE_MESSAGE &&
            f->type != PROTOBUF_C_TYPE_STRING)
            *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
    }
    return m;

fail:
    protobuf_c_message_free_unpacked(m, &rt_protobuf_allocator);
    return NULL;
}

/* Record the path of a difference; the innermost (first recorded) wins. */
static bool
differ(char *why, size_t why_len, const char *prefix, const char *name,
       size_t index, bool indexed)
{
    if (why && why_len && why[0] == '\0') {
        if (indexed)
            snprintf(why, why_len, "%s.%s[%zu]", prefix, name, index);
        else
            snprintf(why, why_len, "%s.%s", prefix, name);
    }
    return false;
}

static bool equal_rec(const ProtobufCMessage *a, const ProtobufCMessage *b,
                      char *why, size_t why_len);

static bool
value_equal(const ProtobufCFieldDescriptor *f, const void *a, const void *b,
            char *why, size_t why_len)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *x = *(char *const *)a, *y = *(char *const *)b;
        return strcmp(x ? x : "", y ? y : "") == 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *x = a, *y = b;
        return x->len == y->len &&
               (x->len == 0 || memcmp(x->data, y->data, x->len) == 0);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *x = *(ProtobufCMessage *const *)a;
        const ProtobufCMessage *y = *(ProtobufCMessage *const *)b;
        if (x == NULL || y == NULL)
            return x == y;
        return equal_rec(x, y, why, why_len);
    }
    case PROTOBUF_C_TYPE_BOOL:
        return !*(const protobuf_c_boolean *)a ==
               !*(const protobuf_c_boolean *)b;
    default:
        return memcmp(a, b, value_size(f)) == 0;
    }
}

bool
rt_test_proto_equal(const ProtobufCMessage *a, const ProtobufCMessage *b,
                    char *why, size_t why_len)
{
    if (why && why_len)
        why[0] = '\0';
    return equal_rec(a, b, why, why_len);
}

static bool
equal_rec(const ProtobufCMessage *a, const ProtobufCMessage *b, char *why,
          size_t why_len)
{
    const ProtobufCMessageDescriptor *d = a->descriptor;
    if (b->descriptor != d) {
        if (why && why_len && why[0] == '\0')
            snprintf(why, why_len, "%s vs %s", d->short_name,
                     b->descriptor->short_name);
        return false;
    }
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *pa = (const char *)a, *pb = (const char *)b;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t na = *(const size_t *)(pa + f->quantifier_offset);
            size_t nb = *(const size_t *)(pb + f->quantifier_offset);
            if (na != nb)
                return differ(why, why_len, d->short_name, f->name, na, false);
            const char *xa = *(char *const *)(pa + f->offset);
            const char *xb = *(char *const *)(pb + f->offset);
            size_t sz = value_size(f);
            for (size_t k = 0; k < na; k++) {
                if (!value_equal(f, xa + k * sz, xb + k * sz, why, why_len))
                    return differ(why, why_len, d->short_name, f->name, k,
                                  true);
            }
            continue;
        }
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t ca = *(const uint32_t *)(pa + f->quantifier_offset);
            uint32_t cb = *(const uint32_t *)(pb + f->quantifier_offset);
            if (ca != cb)
                return differ(why, why_len, d->short_name, f->name, 0, false);
            if (ca != f->id)
                continue;
        }
        if (!value_equal(f, pa + f->offset, pb + f->offset, why, why_len))
            return differ(why, why_len, d->short_name, f->name, 0, false);
    }
    return true;
}
