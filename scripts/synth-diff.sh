#!/usr/bin/env bash
# Synthesizes the shipped stacks at a git ref and in the working tree, and compares the plans as Terraform reads
# them (scripts/synth-diff.js): moved resources count as the same, metadata is reported apart. Exits 1 on a
# difference. Needs `npm ci` done in this checkout.
#
#   bash scripts/synth-diff.sh            # against HEAD
#   bash scripts/synth-diff.sh <ref>      # against any commit, e.g. the last release
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ref="${1:-HEAD}"
work="$(mktemp -d)"
log="$work/synth-diff.log"
cleanup() {
  git -C "$root" worktree remove --force "$work/before" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
export CHECKPOINT_DISABLE=1

synth() { # <checkout> <outdir>; compiles into the checkout's own dist/, where the code finds bootstrap-scripts/
  (cd "$1" && npx tsc -p tsconfig.build.json && CDKTF_OUTDIR="$2" node dist/main.js) >>"$log" 2>&1 || {
    cat "$log" >&2
    echo "synth-diff: synthesizing $1 failed" >&2
    exit 2
  }
}

git -C "$root" worktree add --detach "$work/before" "$ref" >>"$log" 2>&1
ln -s "$root/node_modules" "$work/before/node_modules"
synth "$work/before" "$work/b"
synth "$root" "$work/a"
echo "synth-diff: $ref -> working tree"
node "$root/scripts/synth-diff.js" "$work/b" "$work/a"
