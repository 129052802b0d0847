#!/usr/bin/env bash
# Compute node GPUs: check the devices Slurm will be told about really exist, and turn on persistence
# mode. gres.conf is not written here: in configless mode slurmd fetches it from slurmctld, and a local
# copy would shadow the controller's.
# Inputs: GPU_COUNT (0 = none), GPU_TYPE, GPU_DEVICE_FILES (space-separated paths or name[0-N] patterns).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/common.sh"

load_node_env
count=${GPU_COUNT:-0}
[[ "$count" =~ ^[0-9]+$ ]] || die "GPU_COUNT must be a whole number, got '$count'"
if ((count == 0)); then
  log "GPU_COUNT=0: no GPUs on this node, nothing to do"
  exit 0
fi

# expand_devices WORD… : "/dev/nvidia[0-2]" -> /dev/nvidia0 /dev/nvidia1 /dev/nvidia2; "[0,3]" lists too.
expand_devices() {
  local w prefix body suffix part i
  for w in "$@"; do
    if [[ "$w" =~ ^([^][]*)\[([0-9,-]+)\]([^][]*)$ ]]; then
      prefix=${BASH_REMATCH[1]} body=${BASH_REMATCH[2]} suffix=${BASH_REMATCH[3]}
      IFS=, read -ra parts <<<"$body"
      for part in "${parts[@]}"; do
        if [[ "$part" =~ ^([0-9]+)-([0-9]+)$ ]]; then
          for ((i = BASH_REMATCH[1]; i <= BASH_REMATCH[2]; i++)); do printf '%s%s%s\n' "$prefix" "$i" "$suffix"; done
        elif [[ "$part" =~ ^[0-9]+$ ]]; then
          printf '%s%s%s\n' "$prefix" "$part" "$suffix"
        else
          die "GPU_DEVICE_FILES entry '$w' has a bad range '$part'; use e.g. /dev/nvidia[0-7]"
        fi
      done
    else
      printf '%s\n' "$w"
    fi
  done
}

if [[ -n "${GPU_DEVICE_FILES:-}" ]]; then
  read -ra words <<<"$GPU_DEVICE_FILES"
  mapfile -t devices < <(expand_devices "${words[@]}")
else
  devices=()
  for ((i = 0; i < count; i++)); do devices+=("/dev/nvidia$i"); done
fi
((${#devices[@]} == count)) ||
  die "GPU_COUNT=$count but GPU_DEVICE_FILES lists ${#devices[@]} device(s) (${devices[*]}); make them agree"

if command -v nvidia-smi >/dev/null 2>&1; then
  found=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
  ((found == count)) ||
    die "GPU_COUNT=$count (type ${GPU_TYPE:-unset}) but nvidia-smi -L lists $found GPU(s); fix the pool's GPU count or the instance type, or check the driver"
  # Keeps the driver loaded between jobs; without it each job pays the GPU init time.
  if nvidia-smi -pm 1 >>"$CDKTF_SLURM_LOG_FILE" 2>&1; then
    log "persistence mode enabled on $found GPU(s)"
  else
    log "warning: nvidia-smi -pm 1 failed (see $CDKTF_SLURM_LOG_FILE); jobs will still run, with slower GPU start-up"
  fi
else
  log "nvidia-smi not found: checking device files only"
fi

missing=()
for d in "${devices[@]}"; do
  # Slurm derives CUDA_VISIBLE_DEVICES from the device's minor number: a regular file is not enough.
  [[ -c "$d" ]] || missing+=("$d")
done
((${#missing[@]} == 0)) ||
  die "GPU_COUNT=$count but these GPU device files are missing or not character devices: ${missing[*]}; install/load the NVIDIA driver (nvidia-smi should list $count GPUs) or fix GPU_DEVICE_FILES"
log "found $count GPU device(s) of type ${GPU_TYPE:-unset}: ${devices[*]}"
