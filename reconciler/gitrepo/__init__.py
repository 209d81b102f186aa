"""The git shell: every git operation the product makes (clone, fetch, commit, push,
ls-remote), over GitPython and the git binary."""
