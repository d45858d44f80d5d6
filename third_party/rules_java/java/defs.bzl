"""Offline rules_java: the native Java rules Bazel's tools load, re-exported."""

java_binary = native.java_binary
java_import = native.java_import
java_library = native.java_library
java_runtime = native.java_runtime
java_toolchain = native.java_toolchain
