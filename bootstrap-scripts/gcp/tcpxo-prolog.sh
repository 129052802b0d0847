#!/usr/bin/env bash
# Slurm Prolog for GPUDirect-TCPXO on A3 Mega nodes: starts the Receive Data Path Manager (RxDM) container
# rxdm-<job id> for multi-node jobs and waits until it reports "Buffer manager initialization complete".
# Single-node jobs need no RxDM (NVLink only) and pass straight through. tcpxo.sh installs a copy as
# /etc/slurm/prolog.d/50-tcpxo-rxdm.sh; slurm.conf runs it with Prolog=/etc/slurm/prolog.d/*.
#
# Runs as root on every node of the job, with slurmd's environment: SLURM_JOB_ID, SLURMD_NODENAME and
# SLURM_JOB_NODELIST; SLURM_JOB_NUM_NODES only on recent Slurm, so the node count falls back to
# `scontrol show hostnames`. No PATH is set by slurmd (common.sh adds the standard directories).
# Settings come from node.env: TCPXO_ENABLED (anything but 1: exit 0), TCPXO_RXDM_IMAGE, TCPXO_RXDM_TIMEOUT
# (seconds, default 120). Overrides: TCPXO_RXDM_POLL_SECONDS (2), TCPXO_RXDM_ARGS (RxDM's flags), and the
# device paths tcpxo.sh documents.
#
# On failure (RxDM exits or is not ready in time) it logs RxDM's last lines, removes the container, drains
# this node with a "tcpxo: …" reason and exits 1. Slurm treats a failing Prolog the same way on its own —
# the node drains and the job is requeued (held, unless SchedulerParameters has nohold_on_prolog_fail) —
# so the explicit drain only adds a reason an operator can act on.
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
LOG_TAG=tcpxo-prolog
# shellcheck source-path=SCRIPTDIR/.. source=lib/common.sh
source "$here/lib/common.sh"
# The aperture and dmabuf helpers of the boot step (its main does not run when sourced).
# shellcheck source-path=SCRIPTDIR/.. source=gcp/tcpxo.sh
source "$here/gcp/tcpxo.sh"

READY_LINE="Buffer manager initialization complete"
# slurm-gcp's A3 Mega prolog runs RxDM with these flags; Google's open-source RxDM (Aug 2025 and later)
# needs only --num_hops=2 --num_nics=8.
: "${TCPXO_RXDM_ARGS:=--num_hops=2 --num_nics=8 --uid= --alsologtostderr}"
: "${TCPXO_RXDM_POLL_SECONDS:=2}"

node=""
container=""

# job_node_count : nodes in this job; empty when Slurm gave neither the count nor the node list.
job_node_count() {
  local hosts out n=0 h
  if [[ "${SLURM_JOB_NUM_NODES:-}" =~ ^[1-9][0-9]*$ ]]; then
    printf '%s\n' "$SLURM_JOB_NUM_NODES"
    return 0
  fi
  [[ -n "${SLURM_JOB_NODELIST:-}" ]] || return 0
  out=$(scontrol show hostnames "$SLURM_JOB_NODELIST" 2>/dev/null) || {
    log "scontrol show hostnames '$SLURM_JOB_NODELIST' failed"
    return 0
  }
  mapfile -t hosts <<<"$out"
  for h in "${hosts[@]}"; do [[ -n "$h" ]] && n=$((n + 1)); done
  ((n == 0)) || printf '%s\n' "$n"
}

# now_ms : wall clock in milliseconds (SECONDS only counts whole seconds, which makes short timeouts short).
now_ms() {
  local us=${EPOCHREALTIME//[.,]/}
  printf '%s\n' $((us / 1000))
}

# drain_and_fail REASON : drain this node with REASON and fail the prolog.
drain_and_fail() {
  local reason="tcpxo: $1 (job $SLURM_JOB_ID)"
  log "ERROR: $reason; draining $node"
  retry 3 1 scontrol update "nodename=$node" state=drain "reason=$reason" >/dev/null 2>&1 ||
    log "could not drain $node with scontrol; Slurm drains it for the failed prolog anyway"
  exit 1
}

# container_status : Docker's state of the job's container (running, exited, …), empty when there is none.
container_status() {
  docker inspect --format '{{.State.Status}}' "$container" 2>/dev/null || true
}

# remove_container NAME : bounded stop, then remove.
remove_container() {
  timeout 60 docker stop -t 10 "$1" >/dev/null 2>&1 || true
  timeout 30 docker rm -f "$1" >/dev/null 2>&1 || true
}

# rxdm_failed WHY : copy RxDM's last log lines into the log, remove it, drain.
rxdm_failed() {
  local line
  log "RxDM $container $1; its last log lines:"
  while IFS= read -r line; do log "  rxdm: $line"; done < <(timeout 30 docker logs --tail 20 "$container" 2>&1 || true)
  remove_container "$container"
  drain_and_fail "RxDM not ready: $1"
}

main() {
  load_node_env
  if [[ "${TCPXO_ENABLED:-0}" != 1 ]]; then return 0; fi
  [[ "${SLURM_JOB_ID:-}" =~ ^[0-9]+$ ]] || die "SLURM_JOB_ID='${SLURM_JOB_ID:-}' is not a job id; this script is a Slurm Prolog (slurm.conf Prolog=/etc/slurm/prolog.d/*)"
  node=${SLURMD_NODENAME:-$(hostname -s)}
  container="rxdm-$SLURM_JOB_ID"

  local nodes
  nodes=$(job_node_count)
  if [[ "$nodes" == 1 ]]; then
    log "job $SLURM_JOB_ID runs on 1 node: no RxDM needed"
    return 0
  fi
  [[ -n "$nodes" ]] || log "job $SLURM_JOB_ID: neither SLURM_JOB_NUM_NODES nor SLURM_JOB_NODELIST is set; starting RxDM to be safe"

  require_var TCPXO_RXDM_IMAGE "the pinned RxDM image; lib/gcp/tcpxo.ts tcpxoNodeEnv() writes it"
  local timeout=${TCPXO_RXDM_TIMEOUT:-120} poll=$TCPXO_RXDM_POLL_SECONDS
  [[ "$timeout" =~ ^[1-9][0-9]*$ ]] || die "TCPXO_RXDM_TIMEOUT='$timeout' is not a whole number of seconds; set rxdmReadyTimeoutSeconds (10..900)"
  [[ "$poll" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "TCPXO_RXDM_POLL_SECONDS='$poll' is not a number of seconds"

  # After a reboot the bind mounts are gone and the module may be unloaded; both steps are idempotent.
  (setup_aperture_devices && load_dmabuf_helper) || drain_and_fail "aperture devices or $TCPXO_DMABUF_MODULE module not ready"

  # Two RxDMs would fight over the GPU NICs: remove any left by an earlier job whose epilog did not run.
  local other
  while IFS= read -r other; do
    if [[ "$other" == rxdm-* && "$other" != "$container" ]]; then
      log "removing $other, left over from an earlier job"
      remove_container "$other"
    fi
  done < <(docker ps --all --format '{{.Names}}' 2>/dev/null || true)

  local status args=()
  status=$(container_status)
  if [[ "$status" == running ]]; then
    log "reusing $container, already running (prolog re-run)"
  else
    if [[ -n "$status" ]]; then
      log "removing $container ($status) before starting it again"
      remove_container "$container"
    fi
    read -r -a args <<<"$TCPXO_RXDM_ARGS"
    log "job $SLURM_JOB_ID on ${nodes:-?} nodes: starting $container from $TCPXO_RXDM_IMAGE"
    # Flags as slurm-gcp's A3 Mega prolog runs it. No --rm, so a crashed RxDM keeps its logs for us to read;
    # the epilog removes the container. /var/lib/nvidia/lib64 is Google's driver-library mount (Docker
    # creates it empty where the image keeps the driver elsewhere; --gpus all injects the libraries).
    docker run --detach --name "$container" \
      --label "cdktf-slurm.job-id=$SLURM_JOB_ID" \
      --cap-add=NET_ADMIN --network=host --privileged --gpus all \
      --volume /var/lib/nvidia/lib64:/usr/local/nvidia/lib64 \
      --volume "$TCPXO_DMABUF_DEV:/dev/dmabuf_import_helper" \
      --env LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu \
      "$TCPXO_RXDM_IMAGE" "${args[@]}" >/dev/null 2>>"$CDKTF_SLURM_LOG_FILE" ||
      drain_and_fail "docker run $TCPXO_RXDM_IMAGE failed"
  fi

  local deadline=$(($(now_ms) + timeout * 1000)) logs
  while :; do
    logs=$(docker logs "$container" 2>&1 || true)
    if [[ "$logs" == *"$READY_LINE"* ]]; then
      log "$container ready on $node (job $SLURM_JOB_ID)"
      return 0
    fi
    status=$(container_status)
    [[ "$status" == running ]] || rxdm_failed "stopped (state: ${status:-gone})"
    (($(now_ms) < deadline)) || rxdm_failed "did not log '$READY_LINE' within ${timeout}s"
    sleep "$poll"
  done
}

main "$@"
