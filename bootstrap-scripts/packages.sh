#!/usr/bin/env bash
# Install the distribution's Slurm/munge packages this host's roles need, and check that the
# distribution's Slurm has the features asked for. Makes no apt call when everything is installed.
# Inputs: CDKTF_SLURM_ROLES, DB_LOCAL, SLURMD_MODE.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/common.sh"

load_node_env
require_var CDKTF_SLURM_ROLES "space-separated roles: controller dbd compute login"
command -v dpkg-query >/dev/null 2>&1 || die "this script supports Debian/Ubuntu only (no dpkg-query on $(os_id))"

version=$(distro_slurm_version)
if [[ " $CDKTF_SLURM_ROLES " == *" compute "* && "${SLURMD_MODE:-configless}" == dynamic ]]; then
  if [[ -z "$version" ]]; then
    die "SLURMD_MODE=dynamic needs Slurm >= 22.05 but no Slurm package is known to apt on $(os_id); run apt-get update or use Debian 12 / Ubuntu 24.04"
  elif ! version_ge "$version" 22.05; then
    die "SLURMD_MODE=dynamic needs Slurm >= 22.05 (slurmd -Z) but $(os_id) ships Slurm $version; use Ubuntu 24.04 or Debian 12 images, or make this pool static (configless)"
  fi
fi

pkgs=()
for role in $CDKTF_SLURM_ROLES; do
  case "$role" in
    controller)
      pkgs+=(slurmctld munge slurm-client)
      [[ "${SLURMRESTD_ENABLED:-0}" == 1 ]] && pkgs+=(slurmrestd)
      # auth/jwt (AuthAltTypes) lives in its own package on Debian and Ubuntu.
      [[ -n "${JWT_KEY_SOURCE:-}" ]] && pkgs+=(slurm-wlm-jwt-plugin)
      ;;
    dbd)
      pkgs+=(slurmdbd munge slurm-client)
      [[ "${DB_LOCAL:-0}" == 1 ]] && pkgs+=(mariadb-server)
      [[ -n "${JWT_KEY_SOURCE:-}" ]] && pkgs+=(slurm-wlm-jwt-plugin)
      ;;
    compute) pkgs+=(slurmd munge slurm-client) ;;
    login)
      pkgs+=(slurm-client munge)
      # sackd (configless client daemon) exists from Slurm 23.11; older releases have no package.
      if [[ -n "$version" ]] && version_ge "$version" 23.11 && apt-cache show sackd >/dev/null 2>&1; then
        pkgs+=(sackd)
      fi
      ;;
    *) die "unknown role '$role' in CDKTF_SLURM_ROLES='$CDKTF_SLURM_ROLES'; use controller, dbd, compute or login" ;;
  esac
done
mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
apt_install "${pkgs[@]}"
log "Slurm $(distro_slurm_version) on $(os_id) for roles: $CDKTF_SLURM_ROLES"
