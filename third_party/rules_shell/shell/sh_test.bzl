"""Offline rules_shell: the built-in sh_test under its rules_shell name."""

sh_test = native.sh_test
