#!/usr/bin/env bash
# Entry point of a Docker compute-node container (run under `docker --init`, which reaps zombies): run the
# bootstrap (packages, tailscale, munge, gpu, slurmd as dynamic node), then stay in the foreground watching
# the daemons. A dead daemon ends the container with an error so Docker's restart policy restarts it and the
# (idempotent) bootstrap runs again; SIGTERM (docker stop) stops the daemons cleanly.
# Inputs: node.env plus SLURMD_NODENAME from the container's environment (it wins over node.env).
# For tests: CONTAINER_WATCH_SECONDS, CONTAINER_WATCH_DAEMONS, CONTAINER_CGROUP_MOUNT.
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
LOG_TAG=container
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$here/lib/common.sh"

load_node_env
require_var SLURMD_NODENAME "the container's Slurm node name, set in its environment, e.g. SLURMD_NODENAME=gpu-0"

# proc_pids NAME : pids whose command name is NAME (no procps in minimal images).
proc_pids() {
  local f
  for f in /proc/[0-9]*/comm; do
    [[ "$(cat "$f" 2>/dev/null)" == "${1:0:15}" ]] && { f=${f#/proc/}; printf '%s\n' "${f%/comm}"; }
  done
  return 0
}

# Docker mounts the container's own cgroup namespace read-only; slurmd's cgroup plugins must create job
# cgroups below it. Writable only inside this namespace (cgroupns=private), never the host's tree.
cgroup_mount=${CONTAINER_CGROUP_MOUNT:-/sys/fs/cgroup}
if awk -v m="$cgroup_mount" '$2 == m && $4 ~ /(^|,)ro(,|$)/ { found = 1 } END { exit !found }' /proc/self/mounts; then
  if mount -o remount,rw "$cgroup_mount" 2>/dev/null; then
    log "remounted the container's cgroup namespace read-write for slurmd"
  else
    log "warning: $cgroup_mount is read-only and could not be remounted (needs CAP_SYS_ADMIN); slurmd's cgroup plugins will fail"
  fi
fi

# With distinct GPUs per container (docker gpus "device=<i>"), node 1 holds /dev/nvidia1 only, while the pool's
# gres.conf names /dev/nvidia0: re-create each GPU under the name Slurm expects, with the same major:minor, so
# cgroup device rules (ConstrainDevices) still point at the real GPU. Explicit GPU_DEVICE_FILES are left alone.
align_gpu_devices() {
  local want=${GPU_COUNT:-0} d i target majmin
  local -a have=()
  ((want > 0)) && [[ -z "${GPU_DEVICE_FILES:-}" ]] || return 0
  mapfile -t have < <(for d in /dev/nvidia[0-9]*; do [[ -c "$d" ]] && printf '%s\n' "$d"; done | sort -V)
  if ((${#have[@]} != want)); then
    log "warning: GPU_COUNT=$want but the container holds ${#have[@]} GPU device(s) (${have[*]:-none}); gpu.sh will report it"
    return 0
  fi
  for ((i = 0; i < want; i++)); do
    target=/dev/nvidia$i
    [[ "${have[i]}" == "$target" || -e "$target" ]] && continue
    majmin=$(stat -c '%t %T' "${have[i]}")
    mknod -m 0666 "$target" c "$((16#${majmin% *}))" "$((16#${majmin#* }))" ||
      die "could not create $target for ${have[i]} (needs CAP_MKNOD, in Docker's default set)"
    log "GPU ${have[i]} also reachable as $target (the name gres.conf uses)"
  done
}
align_gpu_devices

watched=(munged slurmd)
[[ -n "${TAILSCALE_AUTHKEY_SOURCE:-}" ]] && watched=(tailscaled "${watched[@]}")
# Tests watch stand-in daemons instead (the names are matched across the whole PID namespace).
if [[ -n "${CONTAINER_WATCH_DAEMONS:-}" ]]; then read -ra watched <<<"$CONTAINER_WATCH_DAEMONS"; fi

stop_all() {
  local name pid i
  # Reverse order: slurmd first (drains its steps), the mesh last.
  for ((i = ${#watched[@]} - 1; i >= 0; i--)); do
    name=${watched[i]}
    for pid in $(proc_pids "$name"); do kill -TERM "$pid" 2>/dev/null || true; done
  done
  for ((i = 0; i < 50; i++)); do
    [[ -z "$(for name in "${watched[@]}"; do proc_pids "$name"; done)" ]] && return 0
    sleep 0.2
  done
  log "daemons still running 10s after SIGTERM; the container stops anyway"
}
trap 'log "stop requested: stopping ${watched[*]}"; stop_all; exit 0' TERM INT

log "container $SLURMD_NODENAME: bootstrapping"
rc=0
bash "$here/bootstrap.sh" || rc=$?
((rc == 0)) || die "bootstrap failed (exit $rc); Docker's restart policy will retry. Details: $CDKTF_SLURM_LOG_FILE"
log "container $SLURMD_NODENAME: running; watching ${watched[*]}"

interval=${CONTAINER_WATCH_SECONDS:-15}
while true; do
  # sleep in the background so SIGTERM is handled at once, not after the sleep.
  sleep "$interval" &
  wait $! || true
  for name in "${watched[@]}"; do
    [[ -n "$(proc_pids "$name")" ]] || die "$name is no longer running; exiting so Docker restarts the container (see $CDKTF_SLURM_LOG_DIR)"
  done
done
