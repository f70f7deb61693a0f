"""protobuf_c_library: run the system protoc-c on .proto files.

Yields a cc_library holding the generated .pb-c.c/.pb-c.h files, linked
against the system protobuf-c runtime. A file runtime/protocol/x.proto is
included as "runtime/protocol/x.pb-c.h"; imports between .proto files use
workspace-relative paths.
"""

load(":defs.bzl", "RAY_GENERATED_COPTS")

def protobuf_c_library(name, srcs, deps = [], visibility = None):
    """Generates C from `srcs` (.proto files of this package).

    Args:
      name: the cc_library to create.
      srcs: .proto files in this package.
      deps: other protobuf_c_library targets whose .proto files these import.
      visibility: as for cc_library.
    """
    pkg = native.package_name()
    outs = []
    for s in srcs:
        base = s[:-len(".proto")]
        outs.extend([base + ".pb-c.h", base + ".pb-c.c"])
    native.genrule(
        name = name + "_gen",
        srcs = srcs + [d + "_protos" for d in deps],
        outs = outs,
        cmd = "protoc-c --proto_path=. --c_out=$(GENDIR) " +
              " ".join([pkg + "/" + s for s in srcs]),
        message = "protoc-c " + pkg,
    )
    native.filegroup(name = name + "_protos", srcs = srcs, visibility = visibility)
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".c")],
        hdrs = [o for o in outs if o.endswith(".h")],
        copts = RAY_GENERATED_COPTS,
        deps = deps + ["//bazel/third_party:protobuf_c"],
        visibility = visibility,
    )
