"""rayc_dependencies: the repositories a workspace needs to build rayc.

Bazel 4 fetches rules_cc, rules_java and remote_coverage_tools from the
network for every build; rayc builds offline with small stand-ins from
bazel/local/ (see bazel/local/README.md). A workspace that builds rayc,
rayc's own or one that has it as `@rayc`, calls this macro from WORKSPACE:

    local_repository(name = "rayc", path = "/path/to/rayc")
    load("@rayc//bazel:deps.bzl", "rayc_dependencies")
    rayc_dependencies()

A repository the workspace has already declared under one of these names
is left as it is.
"""

_STAND_INS = ["rules_cc", "rules_java", "remote_coverage_tools"]

def _stand_in_impl(rctx):
    # rayc's own directory, wherever rayc lives: Label() in this file names
    # rayc's repository, and path() turns it into a directory on disk.
    rayc = rctx.path(Label("//:WORKSPACE")).dirname
    src = rayc.get_child("bazel").get_child("local").get_child(rctx.attr.dir)
    if not src.exists:
        fail("rayc stand-in %s not found at %s" % (rctx.name, src))
    for entry in src.readdir():
        rctx.symlink(entry, entry.basename)

# A local_repository whose path is a directory inside rayc. local_repository
# itself cannot say that from a macro: its path is taken relative to the
# main workspace, which knows nothing of where rayc is.
_stand_in = repository_rule(
    implementation = _stand_in_impl,
    attrs = {"dir": attr.string(mandatory = True)},
    local = True,
)

def rayc_dependencies():
    """Declares the offline stand-ins rayc builds with, unless already declared."""
    in_main = Label("//:WORKSPACE").workspace_root == ""
    for name in _STAND_INS:
        if native.existing_rule(name):
            continue
        if in_main:
            # rayc is the main workspace: a plain local_repository also tells
            # `bazel build //...` not to descend into bazel/local/<name>.
            native.local_repository(name = name, path = "bazel/local/" + name)
        else:
            _stand_in(name = name, dir = name)
