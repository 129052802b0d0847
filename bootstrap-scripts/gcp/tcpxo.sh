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

# load_dmabuf_helper : load the kernel module behind $TCPXO_DMABUF_DEV (the prolog calls it again per job).
load_dmabuf_helper() {
  [[ -e "$TCPXO_DMABUF_DEV" ]] && return 0
  local err
  err=$(modprobe "$TCPXO_DMABUF_MODULE" 2>&1) ||
    die "modprobe $TCPXO_DMABUF_MODULE failed for kernel $(uname -r): ${err:-no output}. The module comes from the dmabuf-import-helper DKMS package in Google's apt repository 'deb [arch=all trusted=yes] ar+https://us-apt.pkg.dev/projects/gce-ai-infra gpudirect-tcpxo-apt main' (needs apt-transport-artifact-registry); bake it into the node image as Cluster Toolkit's A3 Mega image build does"
  [[ -e "$TCPXO_DMABUF_DEV" ]] ||
    die "modprobe $TCPXO_DMABUF_MODULE succeeded but $TCPXO_DMABUF_DEV did not appear; check 'dmesg | grep -i import' and the dmabuf-import-helper package version"
  log "loaded $TCPXO_DMABUF_MODULE ($TCPXO_DMABUF_DEV)"
}

# ensure_docker : Docker running, with the NVIDIA container toolkit behind --gpus.
ensure_docker() {
  if ! command -v docker >/dev/null 2>&1; then
    log "docker missing: installing docker.io"
    apt_install docker.io
  fi
  command -v nvidia-ctk >/dev/null 2>&1 || command -v nvidia-container-cli >/dev/null 2>&1 ||
    die "the NVIDIA container toolkit (nvidia-ctk) is missing, so 'docker run --gpus all' cannot start RxDM; install nvidia-container-toolkit from NVIDIA's apt repository in the node image"
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
  load_dmabuf_helper
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
