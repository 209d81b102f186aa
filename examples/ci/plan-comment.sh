#!/bin/sh
# What `reconciler plan` would do to this checkout (the lockfile diff, the trigger records
# that would open, the tags that failed to resolve), as Markdown for a pull request comment
# or a job summary. Run it at the root of the checkout:
#   examples/ci/plan-comment.sh [OUT.md]          (default: reconciler-plan.md)
# Exits with plan's code: 0 when the plan has no errors or failures, 1 when it has, 2 when
# it could not run; the Markdown is written in every case.
set -u
out=${1:-reconciler-plan.md}
limit=60000   # a GitHub comment holds 65536 characters
plan_text=$(mktemp)
trap 'rm -f "$plan_text"' EXIT
reconciler plan --repo . >"$plan_text" 2>&1
code=$?
{
  echo "<!-- imagestream-reconciler plan -->"
  case $code in
    0) echo "### imagestream-reconciler: plan" ;;
    1) echo "### imagestream-reconciler: plan (with errors or failed tags)" ;;
    *) echo "### imagestream-reconciler: plan could not run" ;;
  esac
  echo
  if grep -q '^--- a/images.lock.yaml' "$plan_text"; then
    echo "Merging this changes \`images.lock.yaml\` as below (the reconciler commits it)."
  else
    echo "No change to \`images.lock.yaml\`."
  fi
  echo
  echo '```diff'
  head -c "$limit" "$plan_text"
  if [ "$(wc -c <"$plan_text")" -gt "$limit" ]; then
    echo
    echo "... (cut at $limit characters: run \`reconciler plan\` for the rest)"
  fi
  echo '```'
} >"$out"
exit $code
