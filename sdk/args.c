/* SPDX-License-Identifier: Apache-2.0
 *
 * args.c: what every public entry point checks before it trusts its
 * input, the same in the driver and inside a task: references and
 * encoded call arguments.
 *
 * References. A ray_ref carries the id of its object in the owner's
 * table and, in `owner`, the tag of the runtime that made it: a random
 * 64-bit value drawn at ray_init and shared with the workers through the
 * shared-memory header. A ref whose tag is not this runtime's (made up,
 * copied from another runtime, or kept from before ray_shutdown) is
 * refused like a null one, so it can never alias a live object.
 *
 * Arguments. A call's arguments (ray_arg, usually built by the typed
 * stubs, but the struct is public) are checked once, up front: a known
 * type, a buffer pointer for every non-empty buffer, strings that end in
 * their NUL, arrays a whole number of elements long, sizes that fit the
 * wire's 32-bit lengths and do not overflow when added, refs of this
 * runtime. Each failure is RAY_EINVAL or RAY_ETOOBIG with a detail that
 * names the call and the argument.
 *
 * Wire form. Checked arguments are encoded here and nowhere else, the
 * same for a task the driver queues, an actor call or constructor it
 * keeps, and a request record a worker writes on its ring: nargs
 * sdk_wire_arg entries, then each buffer's bytes padded to 8. Encoding
 * is pure (a ref travels as its id): the driver takes its holds on the
 * refs in a pass of its own, a worker takes none.
 */
#include <string.h>

#include "runtime/alloc.h"
#include "sdk/backend.h"
#include "sdk/sdk_int.h"

uint64_t
sdk_ref_tag(void)
{
    if (sdk_in_worker)
        return sdk_wk_ref_tag();
    sdk_rt *rt = sdk_g;
    return rt ? rt->ref_tag : 0;
}

ray_ref
sdk_ref(uint64_t id)
{
    return (ray_ref){id, id ? sdk_ref_tag() : 0};
}

uint64_t
sdk_ref_id(ray_ref ref)
{
    return ref.id && ref.owner == sdk_ref_tag() ? ref.id : 0;
}

ray_ref
sdk_ref_local(ray_ref ref)
{
    if (!ref.id || ref.owner == sdk_ref_tag())
        return ref.id && ref.owner ? ref : RAY_REF_NULL;
    ray_ref local = RAY_REF_NULL;
    if (sdk_be->borrow && sdk_be->borrow(ref, &local) != RAY_OK)
        return RAY_REF_NULL;
    return local;
}

void
sdk_ref_local_done(ray_ref ref, ray_ref local)
{
    if (local.id && ref.id && ref.owner != sdk_ref_tag())
        ray_ref_release(local); /* the caller's holder of the stand-in */
}

void
sdk_refs_local_done(const ray_ref *refs, const ray_ref *own, size_t n)
{
    if (own == refs)
        return;
    for (size_t i = 0; i < n; i++)
        sdk_ref_local_done(refs[i], own[i]);
    rt_free((void *)own);
}

void
sdk_args_local_done(const ray_arg *args, const ray_arg *own, uint32_t nargs)
{
    if (own == args)
        return;
    for (uint32_t i = 0; i < nargs; i++)
        if (args[i].type == RAY_T_REF &&
            own[i].v.ref.owner != args[i].v.ref.owner) /* made local */
            sdk_ref_local_done(args[i].v.ref, own[i].v.ref);
    rt_free((void *)own);
}

ray_err
sdk_refs_local(const ray_ref *refs, size_t n, const char *what,
               const ray_ref **out)
{
    *out = NULL;
    size_t i = 0;
    while (i < n && (!refs[i].id || refs[i].owner == sdk_ref_tag()))
        i++;
    if (i == n) {
        *out = refs;
        return RAY_OK;
    }
    ray_ref *own = rt_malloc(n * sizeof(*own));
    if (!own)
        return sdk_fail(RAY_ENOMEM, "%s: out of memory", what);
    memcpy(own, refs, n * sizeof(*own));
    for (; i < n; i++) {
        if (!own[i].id)
            continue;
        own[i] = sdk_ref_local(own[i]);
        if (!own[i].id) {
            for (size_t k = 0; k < i; k++)
                sdk_ref_local_done(refs[k], own[k]);
            rt_free(own);
            return sdk_fail(RAY_EINVAL,
                            "%s: refs[%zu] is a foreign reference (not made "
                            "by this runtime or by another of its job)",
                            what, i);
        }
    }
    *out = own;
    return RAY_OK;
}

ray_err
sdk_args_local(const ray_arg *args, uint32_t nargs, const ray_arg **out)
{
    *out = args;
    if (!args || nargs > RAY_MAX_ARGS) /* sdk_args_check says why */
        return RAY_OK;
    uint32_t i = 0;
    while (i < nargs && (args[i].type != RAY_T_REF || !args[i].v.ref.id ||
                         args[i].v.ref.owner == sdk_ref_tag()))
        i++;
    if (i == nargs || !sdk_be->borrow)
        return RAY_OK;
    ray_arg *own = rt_malloc(nargs * sizeof(*own));
    if (!own)
        return sdk_fail(RAY_ENOMEM, "out of memory for a call's arguments");
    memcpy(own, args, nargs * sizeof(*own));
    for (; i < nargs; i++) {
        if (own[i].type != RAY_T_REF)
            continue;
        ray_ref l = sdk_ref_local(own[i].v.ref);
        if (l.id)
            own[i].v.ref = l;
    }
    *out = own;
    return RAY_OK;
}

/* Bytes of one buffer argument of `type` and length `len`, checked. */
static ray_err
check_buffer(const char *what, const char *name, uint32_t i, const ray_arg *a)
{
    const void *p = a->v.buf.ptr;
    size_t len = a->v.buf.len;
    if (len > SDK_ARG_MAX)
        return sdk_fail(RAY_ETOOBIG,
                        "%s '%s': argument %u is %zu bytes, "
                        "more than the %llu a call can carry",
                        what, name, i + 1, len,
                        (unsigned long long)SDK_ARG_MAX);
    if (len && !p)
        return sdk_fail(RAY_EINVAL,
                        "%s '%s': argument %u has %zu bytes at "
                        "a NULL pointer",
                        what, name, i + 1, len);
    if (a->type == RAY_T_STR && len && ((const char *)p)[len - 1] != '\0')
        return sdk_fail(RAY_EINVAL,
                        "%s '%s': argument %u is a string "
                        "that does not end in its NUL within its %zu "
                        "bytes",
                        what, name, i + 1, len);
    if ((a->type == RAY_T_F64S || a->type == RAY_T_I64S) && len % 8)
        return sdk_fail(RAY_EINVAL,
                        "%s '%s': argument %u is an array of "
                        "%zu bytes, not a whole number of 8-byte elements",
                        what, name, i + 1, len);
    return RAY_OK;
}

ray_err
sdk_args_check(const char *what, const char *name, const ray_arg *args,
               uint32_t nargs)
{
    if (!name)
        name = "?";
    if (nargs > RAY_MAX_ARGS)
        return sdk_fail(RAY_EINVAL, "%s '%s': %u arguments, at most %d", what,
                        name, nargs, RAY_MAX_ARGS);
    if (nargs && !args)
        return sdk_fail(RAY_EINVAL,
                        "%s '%s': %u arguments at a NULL "
                        "pointer",
                        what, name, nargs);
    size_t total = 0;
    for (uint32_t i = 0; i < nargs; i++) {
        const ray_arg *a = &args[i];
        if ((a->pad & RAY_ARG_ACTOR) && a->type != RAY_T_U64)
            return sdk_fail(RAY_EINVAL,
                            "%s '%s': argument %u is marked an "
                            "actor handle but has type %u",
                            what, name, i + 1, a->type);
        if (a->type == RAY_T_REF) {
            if (!sdk_ref_id(a->v.ref))
                return sdk_fail(RAY_EINVAL,
                                "%s '%s': argument %u is a "
                                "null, released or foreign reference (not "
                                "made by this runtime)",
                                what, name, i + 1);
            continue;
        }
        if (sdk_type_scalar(a->type))
            continue;
        if (!sdk_type_buffer(a->type))
            return sdk_fail(RAY_EINVAL,
                            "%s '%s': argument %u has unknown "
                            "type %u",
                            what, name, i + 1, a->type);
        ray_err e = check_buffer(what, name, i, a);
        if (e != RAY_OK)
            return e;
        total += SDK_ALIGN8(a->v.buf.len); /* each <= SDK_ARG_MAX: no wrap */
        if (total > SDK_ARG_MAX)
            return sdk_fail(RAY_ETOOBIG,
                            "%s '%s': the arguments add up to "
                            "more than the %llu bytes a call can carry",
                            what, name, (unsigned long long)SDK_ARG_MAX);
    }
    return RAY_OK;
}

size_t
sdk_args_wire_len(const ray_arg *args, uint32_t nargs)
{
    size_t len = nargs * sizeof(sdk_wire_arg);
    for (uint32_t i = 0; i < nargs; i++)
        if (sdk_type_buffer(args[i].type))
            len += SDK_ALIGN8(args[i].v.buf.len);
    return len;
}

void
sdk_args_encode(uint8_t *at, const ray_arg *args, uint32_t nargs)
{
    sdk_wire_arg *wa = (sdk_wire_arg *)at;
    uint8_t *pay = at + nargs * sizeof(sdk_wire_arg);
    for (uint32_t i = 0; i < nargs; i++) {
        const ray_arg *a = &args[i];
        wa[i].type = a->type | (a->pad & RAY_ARG_ACTOR ? SDK_WIRE_ACTOR : 0);
        wa[i].len = 0;
        wa[i].scalar = a->type == RAY_T_REF ? a->v.ref.id : a->v.u64;
        if (!sdk_type_buffer(a->type))
            continue;
        wa[i].len = (uint32_t)a->v.buf.len;
        if (a->v.buf.len)
            memcpy(pay, a->v.buf.ptr, a->v.buf.len);
        pay += SDK_ALIGN8(a->v.buf.len);
    }
}
