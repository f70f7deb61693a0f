/* SPDX-License-Identifier: Apache-2.0
 *
 * message_fuzz.c: unpack every registered message type from arbitrary
 * bytes, and re-pack what decodes.
 *
 * Input layout: byte 0 picks the message type (index into the registry's
 * list), the rest is the payload. A payload that decodes must pack to
 * exactly get_packed_size bytes, those bytes must decode to an equal
 * message, and packing that again must give the same bytes (canonical
 * form is a fixed point). Unknown fields ride along and must survive too.
 * Messages rt_proto_validate rejects are skipped, as the frame reader
 * drops them: this harness found protobuf-c accepting field number 0.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/protocol/registry.h"
#include "tests/fuzz/fuzz.h"
#include "tests/unit/protocol/proto_fill.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t ntypes;
    const uint32_t *types = rt_proto_types(&ntypes);
    const ProtobufCMessageDescriptor *d =
        rt_proto_descriptor(types[data[0] % ntypes]);
    ProtobufCMessage *m = protobuf_c_message_unpack(d, &rt_protobuf_allocator,
                                                    size - 1, data + 1);
    if (m == NULL)
        return 0;
    if (rt_proto_validate(m) != RAY_OK) {
        /* The frame reader rejects these (see registry.h). */
        protobuf_c_message_free_unpacked(m, &rt_protobuf_allocator);
        return 0;
    }
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    RT_FUZZ_CHECK(buf != NULL);
    RT_FUZZ_CHECK(protobuf_c_message_pack(m, buf) == len);

    ProtobufCMessage *again =
        protobuf_c_message_unpack(d, &rt_protobuf_allocator, len, buf);
    RT_FUZZ_CHECK(again != NULL);
    RT_FUZZ_CHECK(rt_test_proto_equal(m, again, NULL, 0));
    RT_FUZZ_CHECK(again->n_unknown_fields == m->n_unknown_fields);
    size_t len2 = protobuf_c_message_get_packed_size(again);
    RT_FUZZ_CHECK(len2 == len);
    uint8_t *buf2 = malloc(len ? len : 1);
    RT_FUZZ_CHECK(buf2 != NULL);
    RT_FUZZ_CHECK(protobuf_c_message_pack(again, buf2) == len);
    RT_FUZZ_CHECK(memcmp(buf, buf2, len) == 0);

    free(buf2);
    free(buf);
    protobuf_c_message_free_unpacked(again, &rt_protobuf_allocator);
    protobuf_c_message_free_unpacked(m, &rt_protobuf_allocator);
    return 0;
}

void
rt_fuzz_seeds(rt_fuzz_seed_cb emit, void *arg)
{
    static uint8_t buf[16384];
    size_t n;
    const uint32_t *types = rt_proto_types(&n);
    for (size_t i = 0; i < n; i++) {
        for (uint32_t seed = 1; seed <= 2; seed++) {
            ProtobufCMessage *m = rt_test_proto_fill(
                rt_proto_descriptor(types[i]), seed * 100 + (uint32_t)i, 2);
            RT_FUZZ_CHECK(m != NULL);
            size_t len = protobuf_c_message_get_packed_size(m);
            if (len + 1 <= sizeof(buf)) {
                buf[0] = (uint8_t)i;
                protobuf_c_message_pack(m, buf + 1);
                emit(arg, buf, len + 1);
                emit(arg, buf, 1 + len / 2); /* usually truncated */
            }
            protobuf_c_message_free_unpacked(m, &rt_protobuf_allocator);
        }
    }
    /* An unknown field (number 99, varint) and an empty payload. */
    uint8_t unknown[] = {6, 0x98, 0x06, 0x2a};
    emit(arg, unknown, sizeof(unknown));
    emit(arg, unknown, 1);
}
