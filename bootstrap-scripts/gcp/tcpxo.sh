#!/usr/bin/env bash
# GPUDirect-TCPXO on Google Cloud A3 Mega compute nodes (a3-megagpu-8g), run once per boot before slurmd:
# checks the 8 GPU NICs and the system NIC exist, bind-mounts the aperture devices (PCI 1ae0:0084) under
# /dev/aperture_devices/<PCI address> with their resource files world-writable (as Google's udev rule does),
# loads the dmabuf import helper module, makes sure Docker with the NVIDIA runtime is there, pre-pulls the
# two pinned images, installs the NCCL FasTrak plugin into TCPXO_PLUGIN_DIR (once per image), checks the NCCL
# profile cloud-init wrote, and installs the RxDM Slurm prolog and epilog. A no-op unless TCPXO_ENABLED=1.
#
# Inputs (node.env, written from lib/gcp/tcpxo.ts tcpxoNodeEnv()):
#   TCPXO_ENABLED            1 on A3 Mega pools; anything else makes this step a no-op
#   TCPXO_RXDM_IMAGE         pinned RxDM image          TCPXO_NCCL_PLUGIN_IMAGE  pinned plugin installer image
#   TCPXO_DATA_NICS          the 8 GPU NIC names, space-separated, in NIC order
#   TCPXO_CONTROL_NIC        the system NIC             TCPXO_PLUGIN_DIR         default /var/lib/tcpxo/lib64
# Paths tests (and other images) may override: TCPXO_SYSFS_NET (/sys/class/net), TCPXO_SYSFS_PCI
# (/sys/bus/pci/devices), TCPXO_APERTURE_DIR (/dev/aperture_devices), TCPXO_DMABUF_DEV
# (/dev/dmabuf_import_helper), TCPXO_DMABUF_MODULE (import-helper), TCPXO_PROFILE_PATH
# (/etc/profile.d/nccl-tcpxo.sh), TCPXO_PROLOG_PATH and TCPXO_EPILOG_PATH (/etc/slurm/{prolog,epilog}.d/50-tcpxo-rxdm.sh).
#
# What the image lacks is installed with apt (Debian/Ubuntu), once; a re-run finds it and changes nothing:
#   - the NVIDIA container toolkit (when neither nvidia-ctk nor nvidia-container-cli is on PATH), from NVIDIA's
#     apt repository, pinned; then Docker's nvidia runtime is configured (nvidia-ctk runtime configure) and
#     Docker restarted, unless DOCKER_DAEMON_JSON already names the nvidia runtime;
#   - the dmabuf-import-helper DKMS package (when modprobe cannot find the module), from Google's
#     gpudirect-tcpxo apt repository in Artifact Registry, reached through apt-transport-artifact-registry.
#     The module it builds is signed with a local key, which Secure Boot rejects: TCPXO pools run with Secure
#     Boot off.
# Optional input (node.env or environment):
#   NVIDIA_CTK_VERSION       apt version of nvidia-container-toolkit and its libraries (default 1.17.8-1)
# Overrides for tests and mirrors: TCPXO_APT_SOURCES_DIR (/etc/apt/sources.list.d), TCPXO_KEYRING_DIR
# (/usr/share/keyrings), DOCKER_DAEMON_JSON (/etc/docker/daemon.json), TCPXO_NVIDIA_CTK_KEY_URL
# (https://nvidia.github.io/libnvidia-container/gpgkey), TCPXO_NVIDIA_CTK_REPO_URL
# (https://nvidia.github.io/libnvidia-container/stable/deb), TCPXO_GOOGLE_APT_KEY_URL
# (https://packages.cloud.google.com/apt/doc/apt-key.gpg), TCPXO_GOOGLE_APT_URL (https://packages.cloud.google.com/apt),
# TCPXO_DMABUF_APT_URL (ar+https://us-apt.pkg.dev/projects/gce-ai-infra), TCPXO_RETRY_DELAY (first delay in
# seconds of the download and apt retries, doubling; default 5).
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
# shellcheck source-path=SCRIPTDIR/.. source=lib/common.sh
source "$here/lib/common.sh"

: "${TCPXO_SYSFS_NET:=/sys/class/net}"
: "${TCPXO_SYSFS_PCI:=/sys/bus/pci/devices}"
: "${TCPXO_APERTURE_DIR:=/dev/aperture_devices}"
: "${TCPXO_DMABUF_DEV:=/dev/dmabuf_import_helper}"
: "${TCPXO_DMABUF_MODULE:=import-helper}"
: "${TCPXO_PROFILE_PATH:=/etc/profile.d/nccl-tcpxo.sh}"
: "${TCPXO_PROLOG_PATH:=/etc/slurm/prolog.d/50-tcpxo-rxdm.sh}"
: "${TCPXO_EPILOG_PATH:=/etc/slurm/epilog.d/50-tcpxo-rxdm.sh}"
: "${TCPXO_APT_SOURCES_DIR:=/etc/apt/sources.list.d}"
: "${TCPXO_KEYRING_DIR:=/usr/share/keyrings}"
: "${DOCKER_DAEMON_JSON:=/etc/docker/daemon.json}"
: "${TCPXO_NVIDIA_CTK_KEY_URL:=https://nvidia.github.io/libnvidia-container/gpgkey}"
: "${TCPXO_NVIDIA_CTK_REPO_URL:=https://nvidia.github.io/libnvidia-container/stable/deb}"
: "${TCPXO_GOOGLE_APT_KEY_URL:=https://packages.cloud.google.com/apt/doc/apt-key.gpg}"
: "${TCPXO_GOOGLE_APT_URL:=https://packages.cloud.google.com/apt}"
: "${TCPXO_DMABUF_APT_URL:=ar+https://us-apt.pkg.dev/projects/gce-ai-infra}"
: "${TCPXO_RETRY_DELAY:=5}"

# NVIDIA_CTK_VERSION is read when it is used, not defaulted here: load_node_env keeps variables that are
# already set, so a default set at source time would hide the value in node.env.
TCPXO_NVIDIA_CTK_DEFAULT_VERSION=1.17.8-1

# Records which installer image filled the plugin directory; a different pinned image reinstalls.
TCPXO_PLUGIN_MARKER=.cdktf-slurm-nccl-plugin-image

# check_nics : every NIC named in TCPXO_DATA_NICS and TCPXO_CONTROL_NIC exists.
check_nics() {
  local nic missing=() data=()
  read -r -a data <<<"$TCPXO_DATA_NICS"
  ((${#data[@]} == 8)) ||
    die "TCPXO_DATA_NICS='$TCPXO_DATA_NICS' names ${#data[@]} NICs; A3 Mega has 8 GPU NICs. Set dataNicNames to the 8 names 'ip -br link' shows (node.env TCPXO_DATA_NICS)"
  for nic in "${data[@]}" "$TCPXO_CONTROL_NIC"; do
    [[ -e "$TCPXO_SYSFS_NET/$nic" ]] || missing+=("$nic")
  done
  if ((${#missing[@]} > 0)); then
    die "network interface(s) missing: ${missing[*]} (present: $(find "$TCPXO_SYSFS_NET" -mindepth 1 -maxdepth 1 -printf '%f ' 2>/dev/null | sed 's/ $//')). Is this an a3-megagpu-8g VM with 8 GPU NICs attached? If the OS names them differently, set dataNicNames/controlNic (node.env TCPXO_DATA_NICS='$TCPXO_DATA_NICS', TCPXO_CONTROL_NIC='$TCPXO_CONTROL_NIC')"
  fi
  log "NICs present: data $TCPXO_DATA_NICS, control $TCPXO_CONTROL_NIC"
}

# find_aperture_devices : sysfs paths of the PCI devices 1ae0:0084, one per line, sorted by address.
find_aperture_devices() {
  local dev vendor device
  for dev in "$TCPXO_SYSFS_PCI"/*; do
    [[ -r "$dev/vendor" && -r "$dev/device" ]] || continue
    vendor=$(<"$dev/vendor")
    device=$(<"$dev/device")
    if [[ "$vendor" == 0x1ae0 && "$device" == 0x0084 ]]; then printf '%s\n' "$dev"; fi
  done
}

# setup_aperture_devices : bind-mount each aperture device's sysfs directory to $TCPXO_APERTURE_DIR/<address>
# and open its resource files to jobs (mode 0666), like the udev rule of Google's A3 Mega Slurm image.
setup_aperture_devices() {
  local devices=() dev name target
  mapfile -t devices < <(find_aperture_devices)
  ((${#devices[@]} > 0)) ||
    die "no aperture device (PCI 1ae0:0084) under $TCPXO_SYSFS_PCI; GPUDirect-TCPXO needs an a3-megagpu-8g VM. Use that machine type for this pool, or turn TCPXO off for it"
  mkdir -p "$TCPXO_APERTURE_DIR"
  chmod 0755 "$TCPXO_APERTURE_DIR"
  for dev in "${devices[@]}"; do
    name=$(basename "$dev")
    target="$TCPXO_APERTURE_DIR/$name"
    if mountpoint -q "$target"; then
      log "aperture device $name already mounted at $target"
    else
      mkdir -p "$target"
      mount --bind "$(readlink -f "$dev")" "$target" || die "could not bind-mount $dev to $target"
      log "aperture device $name mounted at $target"
    fi
    # Jobs (not root) map the BARs through these files.
    if compgen -G "$target/resource*" >/dev/null; then chmod 0666 "$target"/resource*; fi
  done
  log "${#devices[@]} aperture device(s) under $TCPXO_APERTURE_DIR"
}

# ---------------------------------------------------------------------------------------------------
# apt repositories and packages. These helpers return non-zero (after logging why) instead of dying, so
# that the caller's error can say what the packages were for and how else to get them.

# _apt_get ARGS… : apt-get, non-interactive, waiting for the dpkg lock, output to the log.
_apt_get() {
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$APT_LOCK_TIMEOUT" "$@" >>"$CDKTF_SLURM_LOG_FILE" 2>&1
}

# _pkg_satisfied NAME[=VERSION] : NAME is installed (at exactly VERSION when one is given).
_pkg_satisfied() {
  [[ "$1" == *=* ]] || {
    pkg_installed "$1"
    return
  }
  [[ "$(dpkg-query -W -f='${db:Status-Status} ${Version}' "${1%%=*}" 2>/dev/null || true)" == "installed ${1#*=}" ]]
}

# apt_try_install NAME[=VERSION]… : apt-get update, then install what is not installed yet. Nothing (no apt
# call) when all are.
apt_try_install() {
  local missing=() p
  for p in "$@"; do _pkg_satisfied "$p" || missing+=("$p"); done
  ((${#missing[@]} > 0)) || return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    log "cannot install ${missing[*]}: apt-get is not available on $(os_id)"
    return 1
  fi
  log "installing ${missing[*]}"
  retry 5 "$TCPXO_RETRY_DELAY" _apt_get update -q || {
    log "apt-get update failed; see $CDKTF_SLURM_LOG_FILE"
    return 1
  }
  retry 3 "$TCPXO_RETRY_DELAY" _apt_get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" || {
    log "apt-get install ${missing[*]} failed; see $CDKTF_SLURM_LOG_FILE"
    return 1
  }
}

# _ensure_fetch_tools : curl and gpg, for the repositories' signing keys.
_ensure_fetch_tools() {
  if command -v curl >/dev/null 2>&1 && command -v gpg >/dev/null 2>&1; then return 0; fi
  apt_try_install ca-certificates curl gnupg
}

# install_keyring URL DEST : download an apt signing key and install it as a binary keyring (ASCII-armoured
# keys are dearmored). Sets INSTALL_CHANGED.
install_keyring() {
  local url=$1 dest=$2 work
  make_tmpdir work
  retry 5 "$TCPXO_RETRY_DELAY" curl -fsSL --max-time 60 -o "$work/key" "$url" || {
    log "could not download the apt signing key $url"
    return 1
  }
  if grep -q -- '-----BEGIN PGP' "$work/key"; then
    if ! gpg --batch --dearmor <"$work/key" >"$work/key.gpg" 2>>"$CDKTF_SLURM_LOG_FILE" || [[ ! -s "$work/key.gpg" ]]; then
      log "gpg --dearmor failed on the key from $url"
      return 1
    fi
  else
    mv "$work/key" "$work/key.gpg"
  fi
  install_if_changed "$work/key.gpg" "$dest" root:root 0644
}

# write_apt_list NAME LINE : TCPXO_APT_SOURCES_DIR/NAME holds exactly LINE. Sets INSTALL_CHANGED.
write_apt_list() {
  local work
  make_tmpdir work
  printf '%s\n' "$2" >"$work/list"
  install_if_changed "$work/list" "$TCPXO_APT_SOURCES_DIR/$1" root:root 0644
}

# ---------------------------------------------------------------------------------------------------
# dmabuf import helper

DMABUF_ERR=""
# _modprobe_dmabuf : modprobe the helper module; its messages end up in DMABUF_ERR.
_modprobe_dmabuf() { DMABUF_ERR=$(modprobe "$TCPXO_DMABUF_MODULE" 2>&1); }

# _dmabuf_missing_message : why the module is missing and where it comes from.
_dmabuf_missing_message() {
  printf '%s' "modprobe $TCPXO_DMABUF_MODULE failed for kernel $(uname -r): ${DMABUF_ERR:-no output}. The module comes from the dmabuf-import-helper DKMS package in Google's apt repository 'deb [arch=all trusted=yes] ar+https://us-apt.pkg.dev/projects/gce-ai-infra gpudirect-tcpxo-apt main' (needs apt-transport-artifact-registry); bake it into the node image as Cluster Toolkit's A3 Mega image build does"
}

_check_dmabuf_dev() {
  [[ -e "$TCPXO_DMABUF_DEV" ]] ||
    die "modprobe $TCPXO_DMABUF_MODULE succeeded but $TCPXO_DMABUF_DEV did not appear; check 'dmesg | grep -i import' and the dmabuf-import-helper package version"
  log "loaded $TCPXO_DMABUF_MODULE ($TCPXO_DMABUF_DEV)"
}

# load_dmabuf_helper : load the kernel module behind $TCPXO_DMABUF_DEV. The prolog calls it per job, so it
# never installs anything; the boot step uses ensure_dmabuf_helper.
load_dmabuf_helper() {
  [[ -e "$TCPXO_DMABUF_DEV" ]] && return 0
  _modprobe_dmabuf || die "$(_dmabuf_missing_message)"
  _check_dmabuf_dev
}

# install_dmabuf_helper : the dmabuf-import-helper DKMS package, which builds the module for the running kernel.
install_dmabuf_helper() {
  local keyring="$TCPXO_KEYRING_DIR/cloud.google.gpg"
  command -v apt-get >/dev/null 2>&1 || {
    log "cannot install dmabuf-import-helper: apt-get is not available on $(os_id)"
    return 1
  }
  apt_try_install "linux-headers-$(uname -r)" dkms || return 1
  # The ar+https transport must be installed before its repository is listed, or every apt-get update fails.
  if ! pkg_installed apt-transport-artifact-registry; then
    _ensure_fetch_tools || return 1
    install_keyring "$TCPXO_GOOGLE_APT_KEY_URL" "$keyring" || return 1
    write_apt_list artifact-registry.list "deb [signed-by=$keyring] $TCPXO_GOOGLE_APT_URL apt-transport-artifact-registry-stable main"
    apt_try_install apt-transport-artifact-registry || return 1
  fi
  # trusted=yes is acceptable here: Google publishes this repository unsigned, and the ar+https transport
  # fetches it from Artifact Registry over TLS, authenticated with the VM's service account, so what apt
  # reads can only come from Google's gce-ai-infra project.
  write_apt_list gpudirect-tcpxo.list "deb [arch=all trusted=yes] $TCPXO_DMABUF_APT_URL gpudirect-tcpxo-apt main"
  apt_try_install dmabuf-import-helper
}

# ensure_dmabuf_helper : load the module, installing its DKMS package first when the kernel has none.
ensure_dmabuf_helper() {
  [[ -e "$TCPXO_DMABUF_DEV" ]] && return 0
  if ! _modprobe_dmabuf; then
    log "modprobe $TCPXO_DMABUF_MODULE failed for kernel $(uname -r) (${DMABUF_ERR:-no output}): installing the dmabuf-import-helper DKMS package"
    install_dmabuf_helper || die "$(_dmabuf_missing_message) (installing dmabuf-import-helper failed; see $CDKTF_SLURM_LOG_FILE)"
    if ! _modprobe_dmabuf; then
      shopt -s nocasematch
      if [[ "$DMABUF_ERR" == *"key was rejected"* || "$DMABUF_ERR" == *"required key not available"* ]]; then
        shopt -u nocasematch
        die "modprobe $TCPXO_DMABUF_MODULE failed for kernel $(uname -r): $DMABUF_ERR. Secure Boot rejects the DKMS-built import-helper module (DKMS signs it with a key local to this VM, which the firmware does not trust). Run this pool with Secure Boot off (the library turns it off for TCPXO pools: check the instance template's shielded VM settings) or use an image with a signed module"
      fi
      shopt -u nocasematch
      die "$(_dmabuf_missing_message) (even after installing dmabuf-import-helper; see 'dkms status' and $CDKTF_SLURM_LOG_FILE)"
    fi
  fi
  _check_dmabuf_dev
}

# ---------------------------------------------------------------------------------------------------
# Docker and the NVIDIA container toolkit

# install_container_toolkit : nvidia-container-toolkit at NVIDIA_CTK_VERSION from NVIDIA's apt repository.
install_container_toolkit() {
  local v=${NVIDIA_CTK_VERSION:-$TCPXO_NVIDIA_CTK_DEFAULT_VERSION} keyring="$TCPXO_KEYRING_DIR/nvidia-container-toolkit-keyring.gpg"
  [[ "$v" =~ ^[0-9][0-9A-Za-z.+~:-]*$ ]] || {
    log "NVIDIA_CTK_VERSION='$v' is not an apt package version like $TCPXO_NVIDIA_CTK_DEFAULT_VERSION"
    return 1
  }
  command -v apt-get >/dev/null 2>&1 || {
    log "cannot install nvidia-container-toolkit: apt-get is not available on $(os_id)"
    return 1
  }
  _ensure_fetch_tools || return 1
  install_keyring "$TCPXO_NVIDIA_CTK_KEY_URL" "$keyring" || return 1
  # \$(ARCH) is apt's own variable: apt puts the package architecture there, so it stays literal.
  write_apt_list nvidia-container-toolkit.list "deb [signed-by=$keyring] $TCPXO_NVIDIA_CTK_REPO_URL/\$(ARCH) /"
  apt_try_install "nvidia-container-toolkit=$v" "nvidia-container-toolkit-base=$v" \
    "libnvidia-container-tools=$v" "libnvidia-container1=$v" || return 1
  command -v nvidia-ctk >/dev/null 2>&1 || {
    log "nvidia-container-toolkit $v is installed but nvidia-ctk is not on PATH ($PATH)"
    return 1
  }
  log "installed nvidia-container-toolkit $v"
}

# configure_nvidia_runtime : register the nvidia runtime with Docker and restart it, unless DOCKER_DAEMON_JSON
# already names it.
configure_nvidia_runtime() {
  if [[ -f "$DOCKER_DAEMON_JSON" ]] && grep -q '"nvidia"' "$DOCKER_DAEMON_JSON"; then
    log "docker's nvidia runtime already configured in $DOCKER_DAEMON_JSON"
    return 0
  fi
  if ! command -v nvidia-ctk >/dev/null 2>&1; then
    log "nvidia-ctk not found (only nvidia-container-cli): leaving $DOCKER_DAEMON_JSON as it is"
    return 0
  fi
  log "registering docker's nvidia runtime in $DOCKER_DAEMON_JSON"
  mkdir -p "$(dirname "$DOCKER_DAEMON_JSON")"
  nvidia-ctk runtime configure --runtime=docker --config="$DOCKER_DAEMON_JSON" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
    die "nvidia-ctk runtime configure --runtime=docker --config=$DOCKER_DAEMON_JSON failed; see $CDKTF_SLURM_LOG_FILE"
  grep -q '"nvidia"' "$DOCKER_DAEMON_JSON" 2>/dev/null ||
    die "nvidia-ctk runtime configure ran but $DOCKER_DAEMON_JSON names no nvidia runtime; check the file and nvidia-ctk's output in $CDKTF_SLURM_LOG_FILE"
  if have_systemd; then
    systemctl restart docker >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
      die "systemctl restart docker failed after adding the nvidia runtime to $DOCKER_DAEMON_JSON; see 'journalctl -u docker'"
    log "restarted docker to load the nvidia runtime"
  else
    log "no systemd: the operator must restart dockerd so it loads the nvidia runtime from $DOCKER_DAEMON_JSON"
  fi
}

# ensure_docker : Docker running, with the NVIDIA container toolkit behind --gpus.
ensure_docker() {
  if ! command -v docker >/dev/null 2>&1; then
    log "docker missing: installing docker.io"
    apt_install docker.io
  fi
  if ! command -v nvidia-ctk >/dev/null 2>&1 && ! command -v nvidia-container-cli >/dev/null 2>&1; then
    log "the NVIDIA container toolkit is missing: installing it from NVIDIA's apt repository"
    install_container_toolkit ||
      die "the NVIDIA container toolkit (nvidia-ctk) is missing, so 'docker run --gpus all' cannot start RxDM; install nvidia-container-toolkit from NVIDIA's apt repository in the node image (installing it here failed; see $CDKTF_SLURM_LOG_FILE)"
  fi
  configure_nvidia_runtime
  if ! docker info >/dev/null 2>&1 && have_systemd; then
    systemctl enable --now docker >>"$CDKTF_SLURM_LOG_FILE" 2>&1 || log "systemctl enable --now docker failed"
  fi
  retry 10 2 docker info >/dev/null || die "the docker daemon does not answer ('docker info' fails); start it (systemctl start docker) and check $CDKTF_SLURM_LOG_FILE"
}

# registry_login IMAGE… : let root's docker pull from Artifact Registry/GCR with the VM's service account.
registry_login() {
  local image host joined hosts=()
  for image in "$@"; do
    host=${image%%/*}
    case "$host" in
      *-docker.pkg.dev | gcr.io | *.gcr.io) [[ " ${hosts[*]} " == *" $host "* ]] || hosts+=("$host") ;;
    esac
  done
  ((${#hosts[@]} > 0)) || return 0
  if command -v gcloud >/dev/null 2>&1; then
    joined=$(IFS=, && printf '%s' "${hosts[*]}")
    retry 3 2 gcloud auth configure-docker --quiet "$joined" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
      log "warning: gcloud auth configure-docker $joined failed; pulling anonymously"
  else
    log "gcloud not installed: pulling from ${hosts[*]} anonymously"
  fi
}

# pull_image IMAGE : pull unless present, with retries.
pull_image() {
  local image=$1
  if docker image inspect "$image" >/dev/null 2>&1; then
    log "image $image already present"
    return 0
  fi
  retry 5 5 docker pull --quiet "$image" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
    die "could not pull $image; check the node reaches ${image%%/*} (Cloud NAT or Private Google Access) and its service account may read the repository (roles/artifactregistry.reader)"
  log "pulled $image"
}

# install_nccl_plugin : run the installer image into a staging directory, then swap it in. Skipped when the
# marker says this image already installed it.
install_nccl_plugin() {
  local dir=$TCPXO_PLUGIN_DIR image=$TCPXO_NCCL_PLUGIN_IMAGE stage
  if [[ -f "$dir/$TCPXO_PLUGIN_MARKER" && "$(<"$dir/$TCPXO_PLUGIN_MARKER")" == "$image" && -e "$dir/libnccl-net.so" ]]; then
    log "NCCL plugin from $image already installed in $dir"
    return 0
  fi
  stage="$dir.staging"
  rm -rf "$stage"
  mkdir -p "$stage"
  # The installer writes /var/lib/tcpxo/lib64 inside the container; mounting our directory there lets
  # TCPXO_PLUGIN_DIR differ from Google's path. --install-nccl adds Google's NCCL build next to the plugin.
  retry 3 5 docker run --rm --name "nccl-plugin-installer-$$" --network=host \
    --volume "$stage:/var/lib/tcpxo/lib64" "$image" install --install-nccl >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
    die "the NCCL plugin installer ($image install --install-nccl) failed; see $CDKTF_SLURM_LOG_FILE"
  [[ -e "$stage/libnccl-net.so" ]] ||
    die "the NCCL plugin installer ($image) left no libnccl-net.so in $stage; is ncclPluginImage a GPUDirect-TCPXO plugin installer (nccl-plugin-gpudirecttcpx-dev)?"
  printf '%s\n' "$image" >"$stage/$TCPXO_PLUGIN_MARKER"
  rm -rf "$dir.old"
  if [[ -e "$dir" ]]; then mv "$dir" "$dir.old"; fi
  mv "$stage" "$dir"
  rm -rf "$dir.old"
  chmod 0755 "$dir"
  log "installed the NCCL plugin from $image into $dir"
}

# install_slurm_script SRC DEST : install a prolog/epilog copy that sources common.sh from this tree (the
# copy's own directory has no lib/). Sets INSTALL_CHANGED.
install_slurm_script() {
  local src=$1 dest=$2 tmp line
  # shellcheck disable=SC2016 # the literal line of the source script, matched as text
  line='here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."'
  make_tmpdir tmp
  grep -qxF "$line" "$src" || die "$src lacks the line $line that the installed copy rewrites; fix the script"
  awk -v line="$line" -v dir="$(readlink -f "$here")" \
    '$0 == line { print "here=\"" dir "\""; next } { print }' "$src" >"$tmp/script"
  install_if_changed "$tmp/script" "$dest" root:root 0755
}

main() {
  load_node_env
  if [[ "${TCPXO_ENABLED:-0}" != 1 ]]; then
    log "TCPXO_ENABLED=${TCPXO_ENABLED:-0}: not a GPUDirect-TCPXO node, nothing to do"
    return 0
  fi
  require_var TCPXO_RXDM_IMAGE "the pinned RxDM image; lib/gcp/tcpxo.ts tcpxoNodeEnv() writes it"
  require_var TCPXO_NCCL_PLUGIN_IMAGE "the pinned NCCL plugin installer image; lib/gcp/tcpxo.ts tcpxoNodeEnv() writes it"
  require_var TCPXO_DATA_NICS "the 8 GPU NIC names, space-separated"
  require_var TCPXO_CONTROL_NIC "the system NIC name, e.g. enp0s12"
  : "${TCPXO_PLUGIN_DIR:=/var/lib/tcpxo/lib64}"
  [[ "$TCPXO_PLUGIN_DIR" =~ ^(/[A-Za-z0-9._-]+)+$ ]] || die "TCPXO_PLUGIN_DIR='$TCPXO_PLUGIN_DIR' must be an absolute path without spaces or ':'"

  check_nics
  setup_aperture_devices
  ensure_dmabuf_helper
  [[ -f "$TCPXO_PROFILE_PATH" ]] ||
    die "the NCCL profile $TCPXO_PROFILE_PATH is missing; cloud-init writes it from renderNcclTcpxoProfile() (lib/gcp/tcpxo.ts): add it to the pool's user-data write_files"
  ensure_docker
  registry_login "$TCPXO_RXDM_IMAGE" "$TCPXO_NCCL_PLUGIN_IMAGE"
  pull_image "$TCPXO_RXDM_IMAGE"
  pull_image "$TCPXO_NCCL_PLUGIN_IMAGE"
  install_nccl_plugin
  install_slurm_script "$here/gcp/tcpxo-prolog.sh" "$TCPXO_PROLOG_PATH"
  install_slurm_script "$here/gcp/tcpxo-epilog.sh" "$TCPXO_EPILOG_PATH"
  log "GPUDirect-TCPXO ready: RxDM $TCPXO_RXDM_IMAGE starts per multi-node job from $TCPXO_PROLOG_PATH"
}

# Sourced (tests), only the functions are defined.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
