#!/usr/bin/env bash
# Compute node GPUs: check the devices Slurm will be told about really exist, and turn on persistence
# mode. gres.conf is not written here: in configless mode slurmd fetches it from slurmctld, and a local
# copy would shadow the controller's.
# Inputs (node.env): GPU_COUNT (0 = none), GPU_TYPE, GPU_DEVICE_FILES (space-separated paths or name[0-N]
# patterns), and
#   GPU_FABRIC_MANAGER  1 on NVSwitch systems (8-GPU HGX boards: GCP a3-megagpu-8g, AWS p4d/p5), where CUDA
#                       fails with "system not yet initialized" until NVIDIA Fabric Manager has set up the
#                       fabric: installs nvidia-fabricmanager-<driver branch> (the distribution's package) when
#                       missing, enables and starts it (systemd only; a container relies on its host's), then
#                       waits until nvidia-smi reports every GPU's fabric state Completed. Unset or 0: Fabric
#                       Manager is left alone.
# Overrides (tests, slow hosts): GPU_FABRIC_TIMEOUT (seconds to wait for the fabric, default 120),
# GPU_FABRIC_POLL_SECONDS (default 5).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/common.sh"

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

# now_ms : wall clock in milliseconds (SECONDS only counts whole seconds).
now_ms() {
  local us=${EPOCHREALTIME//[.,]/}
  printf '%s\n' $((us / 1000))
}

# fabric_states : one "STATE|STATUS" line per Fabric section of `nvidia-smi -q` (one per GPU on drivers that
# report it), e.g. "In Progress|N/A" or "Completed|Success". A missing field reads N/A.
fabric_states() {
  { nvidia-smi -q 2>/dev/null || true; } | awk '
    function indent(s) { match(s, /^[ \t]*/); return RLENGTH }
    function value(s) { sub(/^[^:]*:[ \t]*/, "", s); sub(/[ \t\r]+$/, "", s); return s }
    function flush() { print (state == "" ? "N/A" : state) "|" (status == "" ? "N/A" : status); infab = 0 }
    infab && $0 !~ /^[ \t\r]*$/ && indent($0) <= fabind { flush() }
    /^[ \t]*Fabric[ \t\r]*$/ { infab = 1; fabind = indent($0); state = ""; status = ""; next }
    infab && /^[ \t]*State[ \t]*:/ { state = value($0) }
    infab && /^[ \t]*Status[ \t]*:/ { status = value($0) }
    END { if (infab) flush() }'
}

# fabric_summary STATES : "In Progress on 6 GPU(s), Completed on 2 GPU(s)"; status shown when not Success/N/A.
fabric_summary() {
  [[ -n "$1" ]] || {
    printf 'none reported\n'
    return 0
  }
  awk -F'|' '
    { key = ($2 == "Success" || $2 == "N/A") ? $1 : $1 " (status " $2 ")"; if (!(key in n)) order[++k] = key; n[key]++ }
    END { for (i = 1; i <= k; i++) printf "%s%s on %d GPU(s)", (i > 1 ? ", " : ""), order[i], n[order[i]]; printf "\n" }' <<<"$1"
}

# wait_for_fabric DRIVER_VERSION : poll until every GPU's fabric state is Completed; die on timeout.
wait_for_fabric() {
  local version=$1 timeout=${GPU_FABRIC_TIMEOUT:-120} poll=${GPU_FABRIC_POLL_SECONDS:-5} states bad deadline
  [[ "$timeout" =~ ^[1-9][0-9]*$ ]] || die "GPU_FABRIC_TIMEOUT='$timeout' is not a whole number of seconds"
  [[ "$poll" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "GPU_FABRIC_POLL_SECONDS='$poll' is not a number of seconds"
  deadline=$(($(now_ms) + timeout * 1000))
  while :; do
    states=$(fabric_states)
    if [[ -n "$states" ]] && ! grep -qv '^Completed|' <<<"$states"; then
      bad=$(grep -vE '\|(Success|N/A)$' <<<"$states" || true)
      [[ -z "$bad" ]] ||
        die "NVSwitch fabric set-up finished with an error: fabric state $(fabric_summary "$states"); CUDA cannot use these GPUs. See 'journalctl -u nvidia-fabricmanager' and /var/log/fabricmanager.log"
      log "NVSwitch fabric ready: $(fabric_summary "$states")"
      return 0
    fi
    # A100 (p4d) and drivers before fabric-state reporting print N/A (or no Fabric section) even with Fabric
    # Manager running: there the service is all that can be checked.
    if ! grep -qvE '^(N/A|Not Supported)\|' <<<"${states:-N/A|N/A}"; then
      if have_systemd && ! systemctl is-active --quiet nvidia-fabricmanager; then
        die "nvidia-fabricmanager is not running (and driver $version reports no fabric state to wait for); see 'journalctl -u nvidia-fabricmanager'"
      fi
      log "driver $version reports no fabric state for these GPUs ($(fabric_summary "$states")): not waiting for it"
      return 0
    fi
    (($(now_ms) < deadline)) ||
      die "NVSwitch fabric not ready after ${timeout}s: fabric state $(fabric_summary "$states") (want Completed on every GPU); until it is, CUDA fails with 'system not yet initialized'. See 'journalctl -u nvidia-fabricmanager' (Fabric Manager must match driver $version exactly)"
    sleep "$poll"
  done
}

# ensure_fabric_manager : Fabric Manager for the loaded driver installed and running, fabric set up.
ensure_fabric_manager() {
  local version branch pkg have
  version=$({ nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null || true; } | head -n1 | tr -d '[:space:]')
  [[ "$version" =~ ^([0-9]+)\.[0-9]+(\.[0-9]+)?$ ]] ||
    die "GPU_FABRIC_MANAGER=1 but 'nvidia-smi --query-gpu=driver_version' gave '$version', not a driver version like 580.95.05; check the NVIDIA driver"
  branch=${BASH_REMATCH[1]}
  pkg="nvidia-fabricmanager-$branch"
  if have_systemd; then
    if pkg_installed "$pkg"; then
      log "$pkg already installed"
    else
      log "installing $pkg (NVIDIA Fabric Manager for driver $version)"
      (apt_install "$pkg") ||
        die "could not install $pkg for NVIDIA driver $version (see $CDKTF_SLURM_LOG_FILE); NVSwitch GPUs cannot run CUDA without Fabric Manager. Bake Fabric Manager matching the driver into the image, or use a driver from a repository that has $pkg"
    fi
    have=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)
    if [[ -n "$have" && "$(_upstream_version "$have")" != "$version" ]]; then
      log "warning: $pkg is version $have but the driver is $version; Fabric Manager refuses to start unless they match exactly"
    fi
    systemctl enable --now nvidia-fabricmanager >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
      die "systemctl enable --now nvidia-fabricmanager failed (driver $version, $pkg ${have:-version unknown}); see 'journalctl -u nvidia-fabricmanager'"
    log "nvidia-fabricmanager enabled and started"
  else
    log "no systemd: not installing or starting Fabric Manager (a container relies on its host's); waiting for the fabric"
  fi
  wait_for_fabric "$version"
}

main() {
  load_node_env
  local count=${GPU_COUNT:-0} fabric=${GPU_FABRIC_MANAGER:-0} words=() devices=() missing=() found d i
  [[ "$count" =~ ^[0-9]+$ ]] || die "GPU_COUNT must be a whole number, got '$count'"
  [[ "$fabric" == 0 || "$fabric" == 1 ]] || die "GPU_FABRIC_MANAGER must be 0 or 1, got '$fabric'"
  if ((count == 0)); then
    log "GPU_COUNT=0: no GPUs on this node, nothing to do"
    return 0
  fi

  if [[ -n "${GPU_DEVICE_FILES:-}" ]]; then
    read -ra words <<<"$GPU_DEVICE_FILES"
    mapfile -t devices < <(expand_devices "${words[@]}")
  else
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
    if [[ "$fabric" == 1 ]]; then ensure_fabric_manager; fi
  else
    [[ "$fabric" != 1 ]] ||
      die "GPU_FABRIC_MANAGER=1 but nvidia-smi is not installed: the NVIDIA driver is missing, and Fabric Manager must match its version. Use an image with the NVIDIA driver for this NVSwitch pool"
    log "nvidia-smi not found: checking device files only"
  fi

  for d in "${devices[@]}"; do
    # Slurm derives CUDA_VISIBLE_DEVICES from the device's minor number: a regular file is not enough.
    [[ -c "$d" ]] || missing+=("$d")
  done
  ((${#missing[@]} == 0)) ||
    die "GPU_COUNT=$count but these GPU device files are missing or not character devices: ${missing[*]}; install/load the NVIDIA driver (nvidia-smi should list $count GPUs) or fix GPU_DEVICE_FILES"
  log "found $count GPU device(s) of type ${GPU_TYPE:-unset}: ${devices[*]}"
}

# Sourced (tests), only the functions are defined.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
