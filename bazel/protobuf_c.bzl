"""protobuf_c_library: run the system protoc-c on .proto files.

Yields a cc_library holding the generated .pb-c.c/.pb-c.h files, linked
against the system protobuf-c runtime. A file runtime/protocol/x.proto is
included as "runtime/protocol/x.pb-c.h"; imports between .proto files use
paths relative to the root of the repository that holds them.

That holds whether rayc is the main workspace or an external repository of
another one (`@rayc`): there, sources sit under `external/rayc/` in the
execution root and outputs under `bazel-out/<cfg>/bin/external/rayc/`, so the
generating rule takes both roots from ctx.label.workspace_root instead of
assuming the execution root is rayc's.
"""

load(":defs.bzl", "RAY_GENERATED_COPTS")

def _protoc_c_impl(ctx):
    # "" in the main workspace, "external/<name>" in an external repository.
    repo = ctx.label.workspace_root

    # protoc-c names each .proto by its path under --proto_path (its path
    # inside the repository) and writes <c_out>/<that name>.pb-c.{c,h}
    # without the .proto: c_out is this repository's directory under the
    # output root, where the macro's predeclared outputs live.
    root = ctx.outputs.outs[0].root.path
    c_out = root + "/" + repo if repo else root
    args = ctx.actions.args()
    args.add("--proto_path=" + (repo or "."))
    args.add("--c_out=" + c_out)
    args.add_all(ctx.files.srcs)

    # The system protoc-c, found on PATH (Debian's protobuf-c-compiler).
    ctx.actions.run_shell(
        command = 'exec protoc-c "$@"',
        arguments = [args],
        inputs = ctx.files.srcs + ctx.files.imports,
        outputs = ctx.outputs.outs,
        use_default_shell_env = True,
        mnemonic = "ProtocC",
        progress_message = "protoc-c %s" % ctx.label,
    )

_protoc_c = rule(
    implementation = _protoc_c_impl,
    attrs = {
        "srcs": attr.label_list(allow_files = [".proto"], mandatory = True),
        # x.pb-c.h and x.pb-c.c for each x.proto in srcs, same package.
        "outs": attr.output_list(mandatory = True),
        # .proto files that srcs import (from other protobuf_c_library targets).
        "imports": attr.label_list(allow_files = [".proto"]),
    },
)

def protobuf_c_library(name, srcs, deps = [], visibility = None):
    """Generates C from `srcs` (.proto files of this package).

    Args:
      name: the cc_library to create.
      srcs: .proto files in this package.
      deps: other protobuf_c_library targets whose .proto files these import.
      visibility: as for cc_library.
    """
    outs = []
    for s in srcs:
        base = s[:-len(".proto")]
        outs.extend([base + ".pb-c.h", base + ".pb-c.c"])
    _protoc_c(
        name = name + "_gen",
        srcs = srcs,
        outs = outs,
        imports = [d + "_protos" for d in deps],
    )
    native.filegroup(name = name + "_protos", srcs = srcs, visibility = visibility)
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".c")],
        hdrs = [o for o in outs if o.endswith(".h")],
        copts = RAY_GENERATED_COPTS,
        deps = deps + [Label("//bazel/third_party:protobuf_c")],
        visibility = visibility,
    )
