"""Repositories tornado_cpp needs, declared offline.

A consumer's WORKSPACE calls `tornado_cpp_dependencies()` after declaring
this repository under any name (`tornado_cpp`, `tornado`, ...): the labels
below are `Label()`s, resolved against this repository whatever it is
called. Every repository below is declared only when the
workspace has not declared one of that name already, so a consumer keeps
its own rules_cc or GoogleTest.
"""

def _declare(rule, name, **kwargs):
    if not native.existing_rule(name):
        rule(name = name, **kwargs)

def _stub_repo_impl(ctx):
    # Copies one of our stub directories into its own repository. A
    # repository rule (rather than local_repository with a relative path)
    # so the stubs resolve from a consumer's workspace too.
    src = ctx.path(ctx.attr.marker).dirname
    for f in ctx.attr.files:
        path = src
        for part in f.split("/"):
            path = path.get_child(part)
        ctx.symlink(path, f)
    ctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % ctx.name)

_stub_repo = repository_rule(
    implementation = _stub_repo_impl,
    attrs = {
        "marker": attr.label(mandatory = True, doc = "Any file in the stub directory."),
        "files": attr.string_list(mandatory = True),
    },
    local = True,
)

def tornado_cpp_dependencies():
    """Declares @system (Debian's Abseil, GoogleTest, Benchmark) and the offline stubs."""
    _declare(
        native.new_local_repository,
        "system",
        path = "/usr",
        build_file = str(Label("//third_party:system.BUILD")),
    )
    _declare(
        _stub_repo,
        "rules_cc",
        marker = Label("//third_party/rules_cc:BUILD.bazel"),
        files = ["BUILD.bazel", "cc/BUILD.bazel", "cc/defs.bzl"],
    )
    _declare(
        _stub_repo,
        "rules_shell",
        marker = Label("//third_party/rules_shell:BUILD.bazel"),
        files = ["BUILD.bazel", "shell/BUILD.bazel", "shell/sh_test.bzl", "shell/sh_binary.bzl"],
    )
    _declare(
        _stub_repo,
        "rules_java",
        marker = Label("//third_party/rules_java:BUILD.bazel"),
        files = ["BUILD.bazel", "java/BUILD.bazel", "java/defs.bzl"],
    )
    _declare(
        _stub_repo,
        "remote_coverage_tools",
        marker = Label("//third_party/remote_coverage_tools:BUILD.bazel"),
        files = ["BUILD.bazel"],
    )
