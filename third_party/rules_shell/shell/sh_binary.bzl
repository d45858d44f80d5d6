"""Offline rules_shell: the built-in sh_binary under its rules_shell name."""

sh_binary = native.sh_binary
