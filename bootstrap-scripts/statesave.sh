#!/usr/bin/env bash
# Controller step: put slurmctld's StateSaveLocation on its own block device, so job and node state outlive a
# replaced controller instance. Input: STATESAVE_DEVICE (the device name the cloud attaches it as, e.g.
# /dev/sdf on AWS; unset = keep state on the root disk). Formats the device only when it holds no
# filesystem; mounts it by label through fstab; safe to re-run.
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$here/lib/common.sh"
load_node_env

if [[ -z "${STATESAVE_DEVICE:-}" ]]; then
  log "STATESAVE_DEVICE not set: StateSaveLocation stays on the root disk"
  exit 0
fi
label=slurmstate
state_dir=$(conf_get "$CDKTF_SLURM_STAGING_DIR/slurm.conf" StateSaveLocation /var/spool/slurmctld)

# The state volume is found by label, or (first boot) as the device it was attached as; formatted only when blank.
mount_data_disk "$STATESAVE_DEVICE" "$label" "$state_dir"
