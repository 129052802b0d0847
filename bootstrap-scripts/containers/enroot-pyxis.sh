#!/usr/bin/env bash
# Containers for Slurm jobs: NVIDIA enroot (unprivileged container runtime) and pyxis (its SPANK plugin), so
# `srun --container-image=nvcr.io#nvidia/pytorch:24.04-py3 …` runs each task in a container whose storage is on
# the local NVMe scratch. pyxis is loaded by srun on submit hosts and by slurmstepd on compute nodes, so both
# run this step. Idempotent: every part is skipped when already in place.
#
#  1. enroot and enroot+caps ENROOT_VERSION from NVIDIA's GitHub release .debs for this architecture
#     (`dpkg --print-architecture`: amd64 or arm64), each checked against its SHA-256 before dpkg sees it.
#     NVIDIA publishes no checksum file, so the sums are inputs: ENROOT_SHA256_<ARCH> and ENROOT_CAPS_SHA256_<ARCH>
#     (<ARCH> = AMD64 or ARM64). Get them from the sha256 GitHub shows beside each asset on the release page, or
#     run `sha256sum` on the files fetched once from a trusted machine; lib/cloudinit/enroot.ts writes them to
#     node.env from EnrootSettings.checksums.
#  2. /etc/enroot/enroot.conf from the copy cloud-init staged (rendered by lib/cloudinit/enroot.ts).
#  3. The enroot directories that enroot.conf names below LOCAL_SCRATCH: root-owned, mode 1777 (sticky, like
#     /tmp), so each user's enroot can make its own user-<uid> directory in them (enroot mkdirs those 0700).
#     Run gcp/localssd-raid.sh first; without a scratch mount they land on the boot disk (logged).
#  4. pyxis PYXIS_VERSION, built from its source archive (checked against PYXIS_SHA256) against this host's
#     Slurm headers (Debian and Ubuntu: libslurm-dev provides slurm/spank.h), only when the plugin is missing or
#     was built from another pyxis or Slurm release: Slurm refuses a SPANK plugin built for another release.
#     A marker file beside pyxis.conf records what the plugin was built from.
#  5. plugstack.conf and plugstack.conf.d/pyxis.conf from the staging dir into SLURM_CONF_DIR.
#
# Inputs (node.env or environment): ENROOT_VERSION (default 3.5.0), PYXIS_VERSION (default 0.20.0), the
# checksums above and PYXIS_SHA256, LOCAL_SCRATCH (default /mnt/localssd).
# Test overrides: ENROOT_BASE_URL, PYXIS_BASE_URL, ENROOT_CONF_STAGED (/etc/cdktf-slurm/enroot.conf),
# ENROOT_CONF (/etc/enroot/enroot.conf), PYXIS_PREFIX (/usr/local), APPARMOR_DIR (/etc/apparmor.d), and
# common.sh's SLURM_CONF_DIR and CDKTF_SLURM_STAGING_DIR.
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
# shellcheck source-path=SCRIPTDIR/.. source=lib/common.sh
source "$here/lib/common.sh"

# Pinned releases: enroot 3.5.0 is the first whose .deb carries the AppArmor profile Ubuntu 24.04 needs for
# unprivileged user namespaces; pyxis 0.20.0 is what AWS ParallelCluster and Azure HPC pin.
ENROOT_PINNED_VERSION=3.5.0
PYXIS_PINNED_VERSION=0.20.0

: "${ENROOT_BASE_URL:=https://github.com/NVIDIA/enroot/releases/download}"
: "${PYXIS_BASE_URL:=https://github.com/NVIDIA/pyxis/archive/refs/tags}"
: "${ENROOT_CONF_STAGED:=/etc/cdktf-slurm/enroot.conf}"
: "${ENROOT_CONF:=/etc/enroot/enroot.conf}"
: "${PYXIS_PREFIX:=/usr/local}"
: "${APPARMOR_DIR:=/etc/apparmor.d}"

# Installed by apt before the .debs, so installing those needs nothing apt would have to fetch: enroot's
# Depends (curl jq parallel squashfs-tools zstd bsdmainutils; bash, gawk|mawk and passwd are always there),
# libcap2-bin for enroot+caps, and pigz (Recommends: parallel layer decompression) and fuse-overlayfs (Suggests).
ENROOT_DEPS=(curl jq parallel squashfs-tools zstd bsdmainutils libcap2-bin pigz fuse-overlayfs)
# Compiler and Slurm headers for pyxis.
PYXIS_BUILD_DEPS=(gcc make libc6-dev libslurm-dev)

CHANGED=0

# deb_version PKG : installed version of PKG, empty when not installed.
deb_version() {
  local v
  v=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$1" 2>/dev/null || true)
  if [[ "$v" == installed\ * ]]; then printf '%s\n' "${v#installed }"; fi
}

# fetch_verified URL DEST SHA256 VARNAME : download URL and check it before anything uses it.
fetch_verified() {
  local url=$1 dest=$2 sum=$3 var=$4 name
  name=$(basename "$dest")
  retry 5 5 curl -fsSL --max-time 600 -o "$dest" "$url" ||
    die "could not download $url; check the node's route to the internet (NAT) or mirror it and set the base URL"
  printf '%s  %s\n' "$sum" "$dest" | sha256sum -c --status ||
    die "$name does not match SHA256 $sum (got $(sha256sum "$dest" | cut -d' ' -f1)); refusing to install it. Fix $var or the download source"
  log "downloaded $name (SHA256 verified)"
}

# checksum VARNAME WHAT : the value of VARNAME, validated; dies with the way to get it when unset.
checksum() {
  local var=$1 what=$2 sum
  sum=${!var:-}
  [[ -n "$sum" ]] ||
    die "$var is not set: it must hold the SHA-256 of $what, which NVIDIA publishes no checksum file for. Copy the sha256 GitHub shows beside the asset on its release page (or run sha256sum on the file fetched from a trusted machine) into node.env (EnrootSettings.checksums in cdktf-slurm)"
  [[ "$sum" =~ ^[0-9a-f]{64}$ ]] || die "$var must be 64 lower-case hex digits, got '$sum'"
  printf '%s\n' "$sum"
}

# install_enroot ARCH VERSION
install_enroot() {
  local arch=$1 version=$2 want="$2-1" have caps sum_var caps_var sum caps_sum work deb caps_deb
  have=$(deb_version enroot)
  caps=$(deb_version enroot+caps)
  if [[ "$have" == "$want" && "$caps" == "$want" ]]; then
    log "enroot and enroot+caps $want already installed"
    return 0
  fi
  sum_var="ENROOT_SHA256_${arch^^}"
  caps_var="ENROOT_CAPS_SHA256_${arch^^}"
  deb="enroot_${want}_${arch}.deb"
  caps_deb="enroot+caps_${want}_${arch}.deb"
  # Both checksums before any download: a node missing one should fail in seconds, not after a download.
  sum=$(checksum "$sum_var" "$deb")
  caps_sum=$(checksum "$caps_var" "$caps_deb")
  log "installing enroot $want for $arch (installed: enroot ${have:-none}, enroot+caps ${caps:-none})"
  apt_install "${ENROOT_DEPS[@]}"
  make_tmpdir work
  fetch_verified "$ENROOT_BASE_URL/v$version/$deb" "$work/$deb" "$sum" "$sum_var"
  fetch_verified "$ENROOT_BASE_URL/v$version/$caps_deb" "$work/$caps_deb" "$caps_sum" "$caps_var"
  # apt installs local .debs from paths; force-confold keeps our enroot.conf on a later upgrade.
  DEBIAN_FRONTEND=noninteractive retry 3 5 apt-get -o DPkg::Lock::Timeout="$APT_LOCK_TIMEOUT" install -y -q \
    --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "$work/$deb" "$work/$caps_deb" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
    die "apt-get install of $deb and $caps_deb failed; see $CDKTF_SLURM_LOG_FILE"
  have=$(deb_version enroot)
  caps=$(deb_version enroot+caps)
  [[ "$have" == "$want" && "$caps" == "$want" ]] ||
    die "after installing, dpkg reports enroot '${have:-none}' and enroot+caps '${caps:-none}', not $want"
  CHANGED=1
}

# apparmor_fixup : enroot's .deb installs an AppArmor profile written for AppArmor 4 (Ubuntu >= 23.10, where
# it lets enroot create user namespaces). Older AppArmor (Ubuntu 22.04) cannot parse it (enroot issue #201);
# NVIDIA's advice there is to disable the profile, which such hosts do not need.
apparmor_fixup() {
  local profile="$APPARMOR_DIR/enroot"
  [[ -f "$profile" ]] || return 0
  if [[ -e "$APPARMOR_DIR/abi/4.0" ]]; then
    return 0
  fi
  if [[ ! -L "$APPARMOR_DIR/disable/enroot" ]]; then
    mkdir -p "$APPARMOR_DIR/disable"
    ln -sfn "$profile" "$APPARMOR_DIR/disable/enroot"
    log "disabled the enroot AppArmor profile: this AppArmor has no abi/4.0 (pre-24.04), and needs no profile for user namespaces"
  fi
}

# userns_check : warn when user namespaces, which enroot needs, are blocked.
userns_check() {
  local f=/proc/sys/kernel/apparmor_restrict_unprivileged_userns
  if [[ -r "$f" && "$(cat "$f")" == 1 && ! -f "$APPARMOR_DIR/enroot" ]]; then
    log "warning: $f is 1 and no enroot AppArmor profile is installed; containers will fail to start. Install enroot >= 3.5.0 (its .deb ships the profile)"
  fi
}

# conf_value FILE KEY : the last value of KEY in enroot.conf, unexpanded. enroot splits each line at the first
# run of spaces, tabs or '=' (`KEY value` and `KEY=value` both work).
conf_value() {
  awk -v k="$2" '
    {
      line = $0
      sub(/^[ \t]+/, "", line)
      n = match(line, /[ \t=]/)
      if (n == 0 || substr(line, 1, n - 1) != k) next
      val = substr(line, n)
      sub(/^[ \t=]+/, "", val)
      sub(/[ \t]+$/, "", val)
      v = val
    }
    END { print v }' "$1"
}

# static_prefix PATH : the leading directories of PATH before the first part enroot expands per user
# ("/mnt/localssd/enroot/data/user-${UID}" -> "/mnt/localssd/enroot/data"); empty when PATH starts with one.
static_prefix() {
  local path=$1 out="" part
  local -a parts
  IFS=/ read -ra parts <<<"${path#/}"
  for part in "${parts[@]}"; do
    [[ "$part" == *'$'* ]] && break
    out+="/$part"
  done
  printf '%s\n' "$out"
}

# make_enroot_dirs : create the enroot directories enroot.conf names below LOCAL_SCRATCH.
make_enroot_dirs() {
  local scratch=${LOCAL_SCRATCH%/} key value dir
  [[ "$scratch" == /?* ]] || die "LOCAL_SCRATCH='$LOCAL_SCRATCH' must be an absolute path, e.g. /mnt/localssd"
  if ! findmnt -rn --mountpoint "$scratch" >/dev/null 2>&1; then
    log "warning: $scratch is not a mount point; enroot's images and containers will use the boot disk (run gcp/localssd-raid.sh first)"
  fi
  for key in ENROOT_RUNTIME_PATH ENROOT_CACHE_PATH ENROOT_DATA_PATH ENROOT_TEMP_PATH; do
    value=$(conf_value "$ENROOT_CONF" "$key")
    [[ -n "$value" ]] || continue
    dir=$(static_prefix "$value")
    if [[ "$dir" == "$scratch" && "$value" == *'$'* ]]; then
      log "warning: $key=$value puts per-user directories directly in $scratch, which stays root's (0755); users' containers will fail. Move them one directory down (renderEnrootConf refuses this layout)"
      continue
    fi
    if [[ "$dir" != "$scratch"/?* ]]; then
      log "$key=$value is not below $scratch; leaving its directory to enroot"
      continue
    fi
    if [[ ! -d "$dir" || "$(stat -c '%U:%G %a' "$dir")" != "root:root 1777" ]]; then
      ensure_dir "$dir" root:root 1777
      log "made $dir (root, 1777) for $key"
    fi
  done
}

# install_pyxis VERSION
install_pyxis() {
  local version=$1 plugin="$PYXIS_PREFIX/lib/slurm/spank_pyxis.so" marker="$PYXIS_PREFIX/share/pyxis/cdktf-slurm.build"
  local slurm want sum work tarball
  slurm=$(distro_slurm_version)
  [[ -n "$slurm" ]] || die "no Slurm installed on this host; pyxis must be built against the Slurm it runs with, so run the packages step first"
  want="pyxis=$version slurm=$slurm"
  if [[ -f "$plugin" && -f "$marker" && "$(cat "$marker")" == "$want" ]]; then
    log "pyxis $version already built for Slurm $slurm ($plugin)"
    return 0
  fi
  log "building pyxis $version for Slurm $slurm (had: $(cat "$marker" 2>/dev/null || echo none))"
  sum=$(checksum PYXIS_SHA256 "pyxis's v$version.tar.gz source archive")
  apt_install "${PYXIS_BUILD_DEPS[@]}"
  make_tmpdir work
  tarball="$work/pyxis-$version.tar.gz"
  fetch_verified "$PYXIS_BASE_URL/v$version.tar.gz" "$tarball" "$sum" PYXIS_SHA256
  mkdir -p "$work/src"
  tar -xzf "$tarball" -C "$work/src" --strip-components=1 || die "could not unpack $tarball"
  make -C "$work/src" -j"$(nproc)" prefix="$PYXIS_PREFIX" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
    die "building pyxis $version failed; see $CDKTF_SLURM_LOG_FILE (is libslurm-dev's slurm/spank.h present?)"
  make -C "$work/src" install prefix="$PYXIS_PREFIX" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
    die "installing pyxis $version into $PYXIS_PREFIX failed; see $CDKTF_SLURM_LOG_FILE"
  [[ -f "$plugin" ]] || die "pyxis $version installed no $plugin; check PYXIS_PREFIX ($PYXIS_PREFIX)"
  printf '%s\n' "$want" >"$work/marker"
  INSTALL_QUIET=1 install_if_changed "$work/marker" "$marker" root:root 0644
  CHANGED=1
}

# install_plugstack : the staged plugstack.conf and its pyxis drop-in into SLURM_CONF_DIR.
install_plugstack() {
  local staged=$CDKTF_SLURM_STAGING_DIR name
  for name in plugstack.conf plugstack.conf.d/pyxis.conf; do
    [[ -f "$staged/$name" ]] ||
      die "$staged/$name is missing; cloud-init stages it from renderPlugstackConf/renderPyxisConf (lib/slurm/render-plugstack-conf.ts)"
    install_if_changed "$staged/$name" "$SLURM_CONF_DIR/$name" root:root 0644
    ((INSTALL_CHANGED)) && CHANGED=1
  done
  return 0
}

main() {
  load_node_env
  local enroot_version=${ENROOT_VERSION:-$ENROOT_PINNED_VERSION} pyxis_version=${PYXIS_VERSION:-$PYXIS_PINNED_VERSION} arch
  : "${LOCAL_SCRATCH:=/mnt/localssd}"
  [[ "$enroot_version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "ENROOT_VERSION='$enroot_version' is not a release like $ENROOT_PINNED_VERSION"
  [[ "$pyxis_version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "PYXIS_VERSION='$pyxis_version' is not a release like $PYXIS_PINNED_VERSION"
  arch=$(dpkg --print-architecture 2>/dev/null || true)
  case "$arch" in
    amd64 | arm64) ;;
    *) die "NVIDIA publishes enroot .debs for amd64 and arm64; this host is '${arch:-unknown}' (dpkg --print-architecture)" ;;
  esac

  install_enroot "$arch" "$enroot_version"
  apparmor_fixup
  userns_check
  [[ -f "$ENROOT_CONF_STAGED" ]] ||
    die "$ENROOT_CONF_STAGED is missing; cloud-init stages it from renderEnrootConf (lib/cloudinit/enroot.ts)"
  install_if_changed "$ENROOT_CONF_STAGED" "$ENROOT_CONF" root:root 0644
  ((INSTALL_CHANGED)) && CHANGED=1
  make_enroot_dirs
  install_pyxis "$pyxis_version"
  install_plugstack

  if ((CHANGED)) && service_running slurmd /run/slurmd.pid slurmd; then
    log "slurmd is running: restart it so it loads the new pyxis/plugstack (new job steps read plugstack.conf anyway)"
  fi
  log "containers ready: enroot $enroot_version, pyxis $pyxis_version, enroot storage below $LOCAL_SCRATCH ($( ((CHANGED)) && echo changed || echo unchanged))"
}

# Sourced (tests), only the functions are defined.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
