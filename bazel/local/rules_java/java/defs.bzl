"""Offline stand-in for rules_java: re-exports Bazel 4's native Java rules.

rayc builds no Java; Bazel's own tool packages load these names, so they must
resolve, and the native rules are what Bazel 4 expects behind them.
"""

def java_binary(**kwargs):
    native.java_binary(**kwargs)

def java_import(**kwargs):
    native.java_import(**kwargs)

def java_library(**kwargs):
    native.java_library(**kwargs)

def java_runtime(**kwargs):
    native.java_runtime(**kwargs)

def java_toolchain(**kwargs):
    native.java_toolchain(**kwargs)
