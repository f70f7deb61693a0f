"""rayc's build macros: one place for compile options and test defaults.

Every C target in the tree goes through ray_c_library, ray_c_binary or
ray_c_test, so a warning flag or a sanitizer setting changes in one line.
"""

RAY_COPTS = [
    "-std=c11",
    "-D_GNU_SOURCE",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wshadow",
    "-Wstrict-prototypes",
    "-Wmissing-prototypes",
    "-Wno-unused-parameter",
    "-Wvla",
    "-fno-strict-aliasing",
    "-fvisibility=hidden",
    "-pthread",
]

# Generated protobuf-c code is not ours to lint.
RAY_GENERATED_COPTS = [
    "-std=c11",
    "-D_GNU_SOURCE",
    "-w",
]

RAY_LINKOPTS = ["-pthread"]

def ray_c_library(name, copts = [], linkopts = [], **kwargs):
    native.cc_library(
        name = name,
        copts = RAY_COPTS + copts,
        linkopts = RAY_LINKOPTS + linkopts,
        **kwargs
    )

def ray_c_binary(name, copts = [], linkopts = [], **kwargs):
    native.cc_binary(
        name = name,
        copts = RAY_COPTS + copts,
        linkopts = RAY_LINKOPTS + linkopts,
        **kwargs
    )

def ray_c_test(name, copts = [], linkopts = [], deps = [], size = "small", timeout = None, criterion = True, linkstatic = True, shard_count = None, **kwargs):
    """A test binary. Criterion tests get the Criterion library and main.

    Criterion forks a child per test; it prints a `Synthesis:` line that
    .ci/run sums across every test binary (and its shards: with
    shard_count, each shard runs every Nth test, each under its own
    timeout).
    """
    # Label(): rayc's target even when the caller's BUILD file is in another
    # workspace (a plain string would name the caller's repository).
    extra = [Label("//bazel/third_party:criterion")] if criterion else []
    if criterion and shard_count:
        extra.append(Label("//tests/integration/common:shard"))

    # Criterion finds tests through a linker section nothing references;
    # -c opt links with --gc-sections, which would drop every test.
    gc = ["-Wl,--no-gc-sections"] if criterion else []
    # A cc_test links its libraries as shared objects by default, and
    # -fvisibility=hidden leaves libray's internal symbols unresolved there.
    # rayc's .bazelrc links statically (--dynamic_mode=off); linkstatic
    # does the same for a test in a workspace without that line.
    native.cc_test(
        name = name,
        copts = RAY_COPTS + copts,
        linkopts = RAY_LINKOPTS + gc + linkopts,
        deps = deps + extra,
        size = size,
        timeout = timeout,
        linkstatic = linkstatic,
        shard_count = shard_count,
        **kwargs
    )

def _static_archive_impl(ctx):
    libs = []
    flags = []
    for li in ctx.attr.dep[CcInfo].linking_context.linker_inputs.to_list():
        for f in li.user_link_flags:
            if f not in flags:
                flags.append(f)
        for lib in li.libraries:
            a = lib.pic_static_library or lib.static_library
            if a and a not in libs:
                libs.append(a)
    out = ctx.actions.declare_file(ctx.label.name + ".a")
    mri = ctx.actions.declare_file(ctx.label.name + ".mri")
    ctx.actions.write(mri, "create %s\n%ssave\nend\n" % (
        out.path,
        "".join(["addlib %s\n" % a.path for a in libs]),
    ))
    ctx.actions.run_shell(
        inputs = libs + [mri],
        outputs = [out],
        command = "ar -M < %s" % mri.path,
        mnemonic = "StaticArchive",
    )
    linkopts = ctx.actions.declare_file(ctx.label.name + ".linkopts")
    ctx.actions.write(linkopts, " ".join(flags) + "\n")
    return [DefaultInfo(files = depset([out, linkopts]))]

# One static archive of a C library and every library it links (the
# position-independent objects), for programs built without Bazel; and,
# beside it, NAME.linkopts: the system libraries they need ("-ljemalloc
# -lprotobuf-c -pthread"), for pkg-config's Libs.private.
static_archive = rule(
    implementation = _static_archive_impl,
    attrs = {"dep": attr.label(providers = [CcInfo])},
)
