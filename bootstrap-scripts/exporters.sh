#!/usr/bin/env bash
# Prometheus exporters of this host, for the cluster's MonitoringStack to scrape (ports only the monitor may reach):
#   node   node_exporter (Debian/Ubuntu prometheus-node-exporter) on NODE_EXPORTER_PORT (9100), with the textfile
#          collector on /var/lib/prometheus/node-exporter (what other steps drop .prom files into);
#   slurm  (controller) slurm-metrics.sh every 30 s into SLURM_METRICS_DIR, served by a second node_exporter that
#          runs only its textfile collector, on SLURM_EXPORTER_PORT (8080);
#   dcgm   (GPU nodes) NVIDIA DCGM and its exporter (datacenter-gpu-manager-4-core, datacenter-gpu-manager-exporter
#          from the NVIDIA repository GPU images carry) on 9400.
# Metrics are not worth a node: a GPU node whose image lacks the DCGM packages logs why, writes
# cdktf_slurm_exporter_missing{exporter="dcgm"} 1 through the textfile collector (an alert fires on it) and goes on.
# Under systemd the distribution's units run the exporters (options in /etc/default), plus two units of ours for
# the Slurm exporter; without systemd (containers) they run detached with pid files. Re-running changes nothing.
# Inputs: EXPORTERS (space-separated kinds; none = nothing to do), NODE_EXPORTER_PORT, SLURM_EXPORTER_PORT,
#   SLURM_METRICS_DIR (default /var/lib/cdktf-slurm/slurm-metrics). Paths for tests: SYSTEMD_UNIT_DIR,
#   NODE_EXPORTER_TEXTFILE_DIR, EXPORTER_PID_DIR (pid files without systemd; default /run).
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$here/lib/common.sh"

load_node_env
kinds=${EXPORTERS:-}
node_port=${NODE_EXPORTER_PORT:-9100}
slurm_port=${SLURM_EXPORTER_PORT:-8080}
metrics_dir=${SLURM_METRICS_DIR:-/var/lib/cdktf-slurm/slurm-metrics}
textfile_dir=${NODE_EXPORTER_TEXTFILE_DIR:-/var/lib/prometheus/node-exporter}
unit_dir=${SYSTEMD_UNIT_DIR:-/etc/systemd/system}
run_dir=${EXPORTER_PID_DIR:-/run}
if [[ -z "$kinds" ]]; then
  log "EXPORTERS is empty: no exporters on this host"
  exit 0
fi
for k in $kinds; do
  case "$k" in node | slurm | dcgm) ;; *) die "EXPORTERS='$kinds': unknown exporter '$k'; use node, slurm and dcgm" ;; esac
done
for v in node_port slurm_port; do
  [[ "${!v}" =~ ^[1-9][0-9]{0,4}$ && "${!v}" -le 65535 ]] || die "$v='${!v}' is not a TCP port"
done
[[ "$node_port" != "$slurm_port" ]] || die "NODE_EXPORTER_PORT and SLURM_EXPORTER_PORT are both $node_port; give each its own port"
has() { [[ " $kinds " == *" $1 "* ]]; }

# The exporter binary; Debian and Ubuntu name it prometheus-node-exporter.
apt_install prometheus-node-exporter
exporter_bin=$(command -v prometheus-node-exporter) || die "prometheus-node-exporter installed but not on PATH"
ensure_dir "$textfile_dir" root:root 0755

if has node; then
  args="--web.listen-address=:$node_port --collector.textfile.directory=$textfile_dir"
  if have_systemd; then
    set_default_option prometheus-node-exporter ARGS "$args"
    if ((INSTALL_CHANGED)); then restart_service prometheus-node-exporter /run/prometheus-node-exporter.pid; else start_service prometheus-node-exporter /run/prometheus-node-exporter.pid; fi
  else
    read -r -a argv <<<"$args"
    start_service --write-pidfile --user prometheus prometheus-node-exporter "$run_dir/cdktf-slurm-node-exporter.pid" "$exporter_bin" "${argv[@]}"
  fi
fi

if has slurm; then
  ensure_dir "$metrics_dir" root:root 0755
  collector="$here/slurm-metrics.sh"
  [[ -f "$collector" ]] || die "$collector is missing; re-deliver the bootstrap scripts"
  exporter_args=(--web.listen-address=":$slurm_port" --collector.disable-defaults --collector.textfile --collector.textfile.directory="$metrics_dir")
  if have_systemd; then
    work=""
    make_tmpdir work
    cat >"$work/metrics.service" <<EOF
# Written by cdktf-slurm (exporters.sh).
[Unit]
Description=Slurm metrics for Prometheus (sinfo/squeue every 30 s into $metrics_dir)
After=slurmctld.service

[Service]
Environment=SLURM_METRICS_DIR=$metrics_dir
ExecStart=/bin/bash $collector
Restart=always
RestartSec=10

[Install]
WantedBy=multi-user.target
EOF
    cat >"$work/exporter.service" <<EOF
# Written by cdktf-slurm (exporters.sh).
[Unit]
Description=Slurm exporter (node_exporter textfile collector on :$slurm_port)
After=network-online.target

[Service]
User=prometheus
ExecStart=$exporter_bin ${exporter_args[*]}
Restart=always

[Install]
WantedBy=multi-user.target
EOF
    changed=0
    install_if_changed "$work/metrics.service" "$unit_dir/cdktf-slurm-metrics.service" root:root 0644
    ((INSTALL_CHANGED)) && changed=1
    install_if_changed "$work/exporter.service" "$unit_dir/cdktf-slurm-exporter.service" root:root 0644
    ((INSTALL_CHANGED)) && changed=1
    if ((changed)); then
      systemctl daemon-reload >>"$CDKTF_SLURM_LOG_FILE" 2>&1 || die "systemctl daemon-reload failed"
      restart_service cdktf-slurm-metrics /run/cdktf-slurm-metrics.pid
      restart_service cdktf-slurm-exporter /run/cdktf-slurm-exporter.pid
    else
      start_service cdktf-slurm-metrics /run/cdktf-slurm-metrics.pid
      start_service cdktf-slurm-exporter /run/cdktf-slurm-exporter.pid
    fi
  else
    # Through bash: `#!/usr/bin/env bash` would re-exec and the process would be called bash anyway.
    SLURM_METRICS_DIR=$metrics_dir start_service --write-pidfile cdktf-slurm-metrics "$run_dir/cdktf-slurm-metrics.pid" bash "$collector"
    start_service --write-pidfile --user prometheus cdktf-slurm-exporter "$run_dir/cdktf-slurm-exporter.pid" "$exporter_bin" "${exporter_args[@]}"
  fi
fi

if has dcgm; then
  absent_file="$textfile_dir/cdktf-slurm-missing.prom"
  if (apt_install datacenter-gpu-manager-4-core datacenter-gpu-manager-exporter) 2>>"$CDKTF_SLURM_LOG_FILE"; then
    rm -f "$absent_file"
    if have_systemd; then
      start_service nvidia-dcgm /run/nvidia-dcgm.pid
      start_service nvidia-dcgm-exporter /run/nvidia-dcgm-exporter.pid
    else
      log "no systemd: dcgm-exporter runs its own embedded host engine"
      start_service --write-pidfile dcgm-exporter "$run_dir/cdktf-slurm-dcgm-exporter.pid" "$(command -v dcgm-exporter || echo /usr/bin/dcgm-exporter)" --address=:9400
    fi
  else
    log "warning: the DCGM packages are not installable from this image's repositories; GPU metrics are unavailable on this node (recorded for the GpuExporterMissing alert)"
    printf '# HELP cdktf_slurm_exporter_missing An exporter the library asked for could not be installed.\n# TYPE cdktf_slurm_exporter_missing gauge\ncdktf_slurm_exporter_missing{exporter="dcgm"} 1\n' >"$absent_file.tmp"
    mv -f "$absent_file.tmp" "$absent_file"
  fi
fi
log "exporters running: $kinds"
