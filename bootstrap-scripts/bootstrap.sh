#!/usr/bin/env bash
# Entry point run by cloud-init (runcmd): read node.env and run this host's steps, CDKTF_SLURM_STEPS, in the order
# given. cdktf-slurm decides the steps and their order (lib/cloudinit/boot-steps.ts); this script decides nothing.
# Safe to re-run: every step only changes what differs. Exits non-zero on the first failed step.
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
LOG_TAG=bootstrap
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$here/lib/common.sh"

load_node_env
require_var CDKTF_SLURM_ROLES "space-separated roles of this host: controller dbd compute login"
for role in $CDKTF_SLURM_ROLES; do
  case "$role" in
    controller | dbd | compute | login) ;;
    *) die "unknown role '$role' in CDKTF_SLURM_ROLES='$CDKTF_SLURM_ROLES'; use controller, dbd, compute or login" ;;
  esac
done
require_var CDKTF_SLURM_STEPS "the host's ordered steps, written by cdktf-slurm next to CDKTF_SLURM_ROLES; re-render this host's node.env with cdktf-slurm (a node.env from before the step list has none)"

# Every step checked before the first runs: a host must not stop half-way for a script it was never given.
read -ra steps <<<"$CDKTF_SLURM_STEPS"
((${#steps[@]} > 0)) || die "CDKTF_SLURM_STEPS is blank in $CDKTF_SLURM_ENV_FILE; re-render this host's node.env with cdktf-slurm"
for step in "${steps[@]}"; do
  [[ "$step" =~ ^[a-z0-9][a-z0-9_/-]*$ ]] ||
    die "step '$step' in CDKTF_SLURM_STEPS is not a step name (lower-case letters, digits, '-', '_', '/'); re-render this host's node.env with cdktf-slurm"
  [[ -f "$here/$step.sh" ]] ||
    die "step '$step' in CDKTF_SLURM_STEPS has no script: $here/$step.sh is missing; redeploy the host with the scripts cdktf-slurm derives from its steps, or copy $step.sh from the same cdktf-slurm version into $here"
done

# One bootstrap at a time (cloud-init and an operator re-running it by hand).
_ensure_log_dir
exec 9>>"$CDKTF_SLURM_LOG_DIR/.bootstrap.lock"
flock -w 900 9 || die "another bootstrap.sh still holds $CDKTF_SLURM_LOG_DIR/.bootstrap.lock after 15 min; check 'ps aux | grep bootstrap'"

# Nodes Slurm starts on AWS learn their Slurm name from the instance tag the ResumeProgram set.
if [[ "${SLURMD_NODENAME_FROM:-}" == aws-tag && -z "${SLURMD_NODENAME:-}" ]]; then
  SLURMD_NODENAME=$(bash "$here/aws/node-name.sh") || die "cannot read this instance's slurm:node-name tag; was it started by the ResumeProgram?"
  export SLURMD_NODENAME
  hostname "$SLURMD_NODENAME" 2>/dev/null || log "could not set the hostname to $SLURMD_NODENAME; slurmd still uses -N"
fi

log "bootstrap start: roles '$CDKTF_SLURM_ROLES', steps: ${steps[*]}, on $(hostname) ($(os_id))"
total_start=$SECONDS
for step in "${steps[@]}"; do
  start=$SECONDS
  log "step $step: start"
  rc=0
  LOG_TAG=$step bash "$here/$step.sh" 9>&- || rc=$?
  if ((rc != 0)); then
    die "step $step failed (exit $rc) after $((SECONDS - start))s; the lines above in $CDKTF_SLURM_LOG_FILE say why. Fix it and re-run: bash $here/bootstrap.sh"
  fi
  log "step $step: done in $((SECONDS - start))s"
done
log "bootstrap done in $((SECONDS - total_start))s"
