#!/usr/bin/env bash
# EFA on AWS GPU nodes (p4d, p5, and the EFA sizes of g4dn/g5/g6): install AWS's EFA software at a pinned,
# checksum-verified version, check an EFA device answers, and write /etc/profile.d/nccl-efa.sh, the NCCL
# environment jobs source. Idempotent: skips the installer when the pinned version is installed.
#
# Inputs (node.env or environment):
#   EFA_ENABLED            1 on EFA instance types (the AWS backend sets it from lib/aws/instance-types.ts);
#                          anything else makes this step a no-op
#   INSTANCE_TYPE          e.g. p5.48xlarge (default: asked from IMDSv2); decides FI_EFA_USE_DEVICE_RDMA
#   EFA_INSTALLER_VERSION  default below; another version needs EFA_INSTALLER_SHA256 too
#   EFA_INSTALLER_SHA256   SHA256 of aws-efa-installer-<version>.tar.gz (AWS lists them on its "Verify the
#                          EFA installer using a checksum" page)
# Test overrides: EFA_INSTALLER_BASE_URL, EFA_PREFIX (/opt/amazon), NCCL_PROFILE_PATH, EFA_SYSCTL_FILE.
#
# Why the installer runs with -y and WITHOUT --skip-kmod: --skip-kmod is AWS's recipe for containers, where
# the host owns the kernel. On the VM we want the installer's own efa driver (DKMS, built for the running
# Ubuntu 24.04 kernel) and efa-nv-peermem, which GPUDirect RDMA on p4d/p5 relies on, matched to the
# rdma-core and libfabric it installs. The NCCL plugin (aws-ofi-nccl, packaged as libnccl-ofi) comes with
# the installer, so its version is pinned by the installer's: 1.42.0 ships libnccl-ofi 1.15.0 (EFA release
# notes); building the plugin separately would need the CUDA toolkit on every node.
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
# shellcheck source-path=SCRIPTDIR/.. source=lib/common.sh
source "$here/lib/common.sh"

# Pinned: version and SHA256 as AWS ParallelCluster pins them (aws-parallelcluster-cookbook,
# cookbooks/aws-parallelcluster-environment/attributes/environment.rb), from AWS's checksum page.
EFA_PINNED_VERSION=1.42.0
EFA_PINNED_SHA256=4114fe612905ee05083ae5cb391a00a012510f3abfecc642d86c9a5ae4be9008
EFA_PINNED_OFI_NCCL=1.15.0

: "${EFA_PREFIX:=/opt/amazon}"
: "${NCCL_PROFILE_PATH:=/etc/profile.d/nccl-efa.sh}"
: "${EFA_INSTALLER_BASE_URL:=https://efa-installer.amazonaws.com}"

# efa_device_rdma_for TYPE : 1 where AWS documents FI_EFA_USE_DEVICE_RDMA=1 (p4d, p5 and their variants).
efa_device_rdma_for() {
  case "$1" in
    p4d.* | p4de.* | p5.* | p5e.* | p5en.*) printf '1\n' ;;
    *) printf '0\n' ;;
  esac
}

# installed_efa_version : the version recorded by the EFA installer, empty when none.
installed_efa_version() {
  local f="$EFA_PREFIX/efa_installed_packages"
  [[ -r "$f" ]] || return 0
  sed -n 's/^# EFA installer version: *\([0-9][0-9.]*\).*/\1/p' "$f" | head -n1
}

# find_plugin_libdir : directory holding the aws-ofi-nccl plugin (libnccl-net*.so), empty when none.
find_plugin_libdir() {
  local d
  for d in "$EFA_PREFIX/ofi-nccl/lib" "$EFA_PREFIX/ofi-nccl/lib/x86_64-linux-gnu" "$EFA_PREFIX/ofi-nccl/lib/aarch64-linux-gnu"; do
    if compgen -G "$d/libnccl-net*.so" >/dev/null; then
      printf '%s\n' "$d"
      return 0
    fi
  done
}

# render_nccl_profile TARGET DEVICE_RDMA PLUGIN_LIBDIR EFA_LIBDIR : write the profile jobs source (POSIX
# sh: /etc/profile.d is read by dash too). Only variables AWS documents for NCCL over EFA: FI_PROVIDER,
# FI_EFA_USE_DEVICE_RDMA on p4d/p5, and the library path of the plugin and libfabric. No NCCL_PROTO or
# NCCL_ALGO: current plugins choose those themselves. Sets INSTALL_CHANGED.
render_nccl_profile() {
  local target=$1 rdma=$2 plugin=$3 efalib=$4 tmp
  [[ "$rdma" == 0 || "$rdma" == 1 ]] || die "render_nccl_profile: DEVICE_RDMA must be 0 or 1, got '$rdma'"
  [[ "$plugin" == /* && "$efalib" == /* && "$plugin$efalib" != *[\ :\'\"\$]* ]] ||
    die "render_nccl_profile: library dirs must be absolute paths without spaces, ':', quotes or '\$' (got '$plugin', '$efalib')"
  tmp=$(mktemp)
  # shellcheck disable=SC2016 # the $-expressions are profile text, expanded when a shell sources it
  {
    printf '# NCCL over EFA. Written by cdktf-slurm (bootstrap-scripts/aws/efa.sh) for EFA installer %s; do not edit.\n' "${EFA_INSTALLER_VERSION:-$EFA_PINNED_VERSION}"
    printf '# Login shells read it; batch jobs: . %s\n' "$target"
    printf 'export FI_PROVIDER=efa\n'
    if [[ "$rdma" == 1 ]]; then printf 'export FI_EFA_USE_DEVICE_RDMA=1\n'; fi
    printf 'case ":${LD_LIBRARY_PATH:-}:" in\n'
    printf '  *":%s:"*) ;;\n' "$plugin"
    printf '  *) LD_LIBRARY_PATH="%s:%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; export LD_LIBRARY_PATH ;;\n' "$plugin" "$efalib"
    printf 'esac\n'
  } >"$tmp"
  install_if_changed "$tmp" "$target" root 0644
  rm -f "$tmp"
}

main() {
  load_node_env
  if [[ "${EFA_ENABLED:-0}" != 1 ]]; then
    log "EFA_ENABLED=${EFA_ENABLED:-0}: not an EFA node, nothing to do"
    return 0
  fi
  local version=${EFA_INSTALLER_VERSION:-$EFA_PINNED_VERSION} sha=${EFA_INSTALLER_SHA256:-} type rdma plugin have work
  [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "EFA_INSTALLER_VERSION='$version' is not a version like $EFA_PINNED_VERSION"
  if [[ -z "$sha" ]]; then
    [[ "$version" == "$EFA_PINNED_VERSION" ]] ||
      die "EFA_INSTALLER_VERSION=$version needs EFA_INSTALLER_SHA256 (this script only knows the checksum of $EFA_PINNED_VERSION); copy it from AWS's 'Verify the EFA installer using a checksum' page into node.env"
    sha=$EFA_PINNED_SHA256
  fi
  [[ "$sha" =~ ^[0-9a-f]{64}$ ]] || die "EFA_INSTALLER_SHA256 must be 64 lower-case hex digits, got '$sha'"

  type=${INSTANCE_TYPE:-}
  if [[ -z "$type" ]]; then
    type=$(retry 5 1 _imds_aws meta-data/instance-type) || die "cannot read the instance type from IMDSv2; set INSTANCE_TYPE in node.env"
  fi
  rdma=$(efa_device_rdma_for "$type")

  have=$(installed_efa_version)
  plugin=$(find_plugin_libdir)
  if [[ "$have" == "$version" && -n "$plugin" ]]; then
    log "EFA installer $version already installed (plugin in $plugin)"
  else
    log "installing EFA installer $version (installed: ${have:-none}) on $type ($(os_id))"
    # DKMS builds the efa module against the running kernel.
    apt_install "linux-headers-$(uname -r)"
    make_tmpdir work
    local tarball="$work/aws-efa-installer-$version.tar.gz"
    retry 5 5 curl -fsSL --max-time 300 -o "$tarball" "$EFA_INSTALLER_BASE_URL/aws-efa-installer-$version.tar.gz" ||
      die "could not download $EFA_INSTALLER_BASE_URL/aws-efa-installer-$version.tar.gz; check the node's route to the internet (NAT) or mirror it"
    printf '%s  %s\n' "$sha" "$tarball" | sha256sum -c --status ||
      die "aws-efa-installer-$version.tar.gz does not match SHA256 $sha (got $(sha256sum "$tarball" | cut -d' ' -f1)); refusing to run it. Fix EFA_INSTALLER_SHA256 or the download source"
    tar -xzf "$tarball" -C "$work"
    (cd "$work/aws-efa-installer" && ./efa_installer.sh -y) >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
      die "efa_installer.sh -y failed for $version; see $CDKTF_SLURM_LOG_FILE"
    have=$(installed_efa_version)
    [[ "$have" == "$version" ]] || die "after installing, $EFA_PREFIX/efa_installed_packages reports '${have:-nothing}', not $version"
    plugin=$(find_plugin_libdir)
    [[ -n "$plugin" ]] || die "EFA installer $version left no aws-ofi-nccl plugin (libnccl-net*.so) under $EFA_PREFIX/ofi-nccl; NCCL would fall back to TCP sockets"
  fi
  local ofi
  ofi=$(dpkg-query -W -f='${Version}' libnccl-ofi 2>/dev/null || true)
  if [[ -n "$ofi" && "${ofi%%-*}" != "$EFA_PINNED_OFI_NCCL" && "$version" == "$EFA_PINNED_VERSION" ]]; then
    log "warning: libnccl-ofi is $ofi, expected $EFA_PINNED_OFI_NCCL with EFA installer $EFA_PINNED_VERSION"
  fi

  # An EFA node without a working EFA device would run NCCL over sockets, quietly and slowly.
  "$EFA_PREFIX/efa/bin/fi_info" -p efa -t FI_EP_RDM >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
    die "fi_info finds no EFA device on this $type; the launch template must attach EFA interfaces (InterfaceType=efa) and the security group must allow all traffic to itself"

  # libfabric's shared-memory provider (intra-node ranks) attaches to peer processes with CMA, which
  # Ubuntu's default Yama ptrace_scope=1 forbids; AWS's EFA guide says to set it to 0.
  local yama="${EFA_SYSCTL_FILE:-/etc/sysctl.d/99-efa-ptrace.conf}" tmp_sysctl
  make_tmpdir tmp_sysctl
  printf '# written by cdktf-slurm efa.sh: libfabric shm needs CMA between ranks\nkernel.yama.ptrace_scope = 0\n' >"$tmp_sysctl/yama.conf"
  install_if_changed "$tmp_sysctl/yama.conf" "$yama" root:root 0644
  sysctl -q -p "$yama" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 || log "warning: could not apply $yama now (read-only /proc/sys?); it applies at next boot"

  render_nccl_profile "$NCCL_PROFILE_PATH" "$rdma" "$plugin" "$EFA_PREFIX/efa/lib"
  log "EFA ready on $type: installer $version, plugin $plugin, FI_EFA_USE_DEVICE_RDMA=$rdma ($NCCL_PROFILE_PATH $( ((INSTALL_CHANGED)) && echo written || echo unchanged))"
}

# Sourced (tests), only the functions are defined.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
