#!/usr/bin/env bash
# Slurm Epilog for GPUDirect-TCPXO on A3 Mega nodes: stops and removes the job's RxDM container
# (rxdm-<job id>, started by tcpxo-prolog.sh), with a bounded stop. Jobs without one (single-node jobs,
# other nodes) pass straight through, and nothing here fails the epilog: a failing Epilog drains the node.
# tcpxo.sh installs a copy as /etc/slurm/epilog.d/50-tcpxo-rxdm.sh; slurm.conf runs it with
# Epilog=/etc/slurm/epilog.d/*.
#
# Inputs (slurmd's environment): SLURM_JOB_ID. Overrides: TCPXO_RXDM_STOP_SECONDS (docker stop -t, default 10).
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
LOG_TAG=tcpxo-epilog
# shellcheck source-path=SCRIPTDIR/.. source=lib/common.sh
source "$here/lib/common.sh"

main() {
  local job=${SLURM_JOB_ID:-} container stop=${TCPXO_RXDM_STOP_SECONDS:-10}
  [[ "$job" =~ ^[0-9]+$ ]] || return 0
  [[ "$stop" =~ ^[0-9]+$ ]] || stop=10
  command -v docker >/dev/null 2>&1 || return 0
  container="rxdm-$job"
  # No container: nothing to do (this is every single-node job), and not worth a log line each.
  timeout 30 docker container inspect "$container" >/dev/null 2>&1 || return 0
  # The stop waits $stop s for RxDM to exit on SIGTERM, then kills it; timeout bounds a hung daemon.
  timeout $((stop + 50)) docker stop -t "$stop" "$container" >/dev/null 2>&1 ||
    log "docker stop $container failed or timed out (job $job); removing it by force"
  if timeout 30 docker rm -f "$container" >/dev/null 2>&1; then
    log "stopped and removed $container (job $job)"
  else
    log "could not remove $container (job $job); the next multi-node prolog removes leftovers"
  fi
}

main "$@" || log "epilog step failed (exit $?); ignored so the node does not drain"
exit 0
