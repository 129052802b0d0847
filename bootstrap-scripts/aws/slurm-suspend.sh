#!/usr/bin/env bash
# Slurm SuspendProgram for AWS cloud pools: slurmctld runs it as SlurmUser with a hostlist of nodes to
# power down. Terminates every instance of this cluster tagged with one of those node names (pending,
# running, stopping or stopped), so nothing keeps billing. Idempotent: nodes without an instance are a
# no-op, and terminating an instance twice is harmless.
# Log: /var/log/slurm/suspend.log. Pool settings (AWS_REGION, CLUSTER_NAME): see pool-env.sh.
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
LOG_TAG=suspend
# Run as SlurmUser: log beside slurmctld's log, not to the root-only bootstrap log.
: "${CDKTF_SLURM_LOG_DIR:=/var/log/slurm}"
# shellcheck source-path=SCRIPTDIR/.. source=lib/common.sh
source "$here/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=pool-env.sh
source "$here/aws/pool-env.sh"
CDKTF_SLURM_LOG_FILE="$CDKTF_SLURM_LOG_DIR/suspend.log"

(($# == 1)) || die "usage: slurm-suspend.sh HOSTLIST (slurmctld passes the nodes to stop, e.g. gpu-[0-3],cpu-7)"

# Not a process substitution: a failed expansion must stop the program, not yield an empty list.
hosts=$(expand_hostlist "$1")
declare -A by_pool=()
while IFS= read -r node; do
  [[ -n "$node" ]] || continue
  if pool=$(node_pool "$node"); then
    by_pool[$pool]+="$node "
  else
    log "$node: name is not <pool>-<index>; no instance of ours can carry it, skipping"
  fi
done <<<"$hosts"

failures=0
for pool in "${!by_pool[@]}"; do
  read -r -a nodes <<<"${by_pool[$pool]}"
  if ! (load_pool "$pool") 2>/dev/null; then
    log "pool '$pool': settings unreadable or invalid; cannot terminate ${nodes[*]} (instances may still run)"
    failures=$((failures + 1))
    continue
  fi
  load_pool "$pool"
  if ! found=$(ec2_instances_by_name "$AWS_REGION" "$CLUSTER_NAME" pending,running,stopping,stopped "${nodes[@]}"); then
    log "pool '$pool': could not list instances of ${nodes[*]}; they may still run"
    failures=$((failures + 1))
    continue
  fi
  ids=()
  while read -r id name; do
    [[ "${id:-}" == i-* ]] || continue
    ids+=("$id")
    log "$name: terminating $id"
  done <<<"$found"
  if ((${#ids[@]} == 0)); then
    log "pool '$pool': no instances for ${nodes[*]}; nothing to do"
    continue
  fi
  for ((i = 0; i < ${#ids[@]}; i += 100)); do
    if ! retry 4 "${AWS_RETRY_DELAY:-2}" aws --region "$AWS_REGION" ec2 terminate-instances \
      --instance-ids "${ids[@]:i:100}" --output text >/dev/null; then
      log "pool '$pool': terminate-instances failed for ${ids[*]:i:100}; they may still run"
      failures=$((failures + 1))
    fi
  done
done
((failures == 0)) || die "suspend $1: $failures pool operation(s) failed; see above"
log "suspend $1: done"
