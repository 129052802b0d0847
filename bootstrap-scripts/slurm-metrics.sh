#!/usr/bin/env bash
# The controller's Slurm exporter: asks slurmctld (sinfo, squeue, scontrol ping) for node states, queue, CPU
# and GPU allocation, and writes them in Prometheus' text format to SLURM_METRICS_DIR/slurm.prom (atomically:
# a scrape never sees half a file), where a node_exporter that runs only its textfile collector serves them on
# port 8080 (exporters.sh starts both). Metric names follow the widely used prometheus-slurm-exporter
# (slurm_nodes_<state>, slurm_queue_<state>, slurm_cpus_<state>) so existing dashboards read them; plus
# slurm_gpus_{alloc,total} and slurmctld_up. When slurmctld does not answer, only slurmctld_up 0 is written:
# stale counts would hide the outage.
# Usage: slurm-metrics.sh [--once]   (default: every SLURM_METRICS_INTERVAL seconds, 30, until killed)
# Inputs: SLURM_METRICS_DIR (default /var/lib/cdktf-slurm/slurm-metrics), SLURM_METRICS_TIMEOUT (seconds per
#   Slurm command, default 10).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/common.sh"

dir=${SLURM_METRICS_DIR:-/var/lib/cdktf-slurm/slurm-metrics}
interval=${SLURM_METRICS_INTERVAL:-30}
limit=${SLURM_METRICS_TIMEOUT:-10}
[[ "$interval" =~ ^[1-9][0-9]*$ ]] || die "SLURM_METRICS_INTERVAL='$interval' must be a whole number of seconds"
[[ "$limit" =~ ^[1-9][0-9]*$ ]] || die "SLURM_METRICS_TIMEOUT='$limit' must be a whole number of seconds"

NODE_STATES=(alloc comp down drain fail idle maint mix resv)

# gauge NAME HELP VALUE : one metric in text format.
gauge() {
  printf '# HELP %s %s\n# TYPE %s gauge\n%s %s\n' "$1" "$2" "$1" "$1" "$3"
}

# collect : the metrics text on stdout; fails only on a broken pipe.
collect() {
  local nodes queue gres
  if ! timeout "$limit" scontrol ping 2>/dev/null | grep -q 'is UP'; then
    gauge slurmctld_up 'slurmctld answers scontrol ping (1) or not (0)' 0
    return 0
  fi
  # One line per node: -N lists a node once per partition, hence sort -u.
  nodes=$(timeout "$limit" sinfo -h -N -o '%N %T %C' | sort -u) || nodes=""
  queue=$(timeout "$limit" squeue -h -o '%T') || queue=""
  gres=$(timeout "$limit" sinfo -h -N -O 'NodeHost:64,Gres:128,GresUsed:128' | sort -u) || gres=""
  gauge slurmctld_up 'slurmctld answers scontrol ping (1) or not (0)' 1
  local s
  for s in "${NODE_STATES[@]}"; do
    # %T: the state in full, with a suffix flag (* not responding, ~ powered down, # powering up, …) dropped.
    gauge "slurm_nodes_$s" "Nodes in state $s" "$(awk -v want="$s" '
      { st = $2; sub(/[*~#!%$@^+-]+$/, "", st)
        short = (st == "allocated") ? "alloc" : (st == "completing") ? "comp" : (st == "drained" || st == "draining") ? "drain" :
                (st == "failing") ? "fail" : (st == "mixed") ? "mix" : (st == "reserved") ? "resv" : st
        if (short == want) n++ }
      END { print n + 0 }' <<<"$nodes")"
  done
  gauge slurm_nodes_powered_down 'Cloud nodes powered down (state flag ~)' "$(awk '$2 ~ /~$/ { n++ } END { print n + 0 }' <<<"$nodes")"
  gauge slurm_nodes_total 'Nodes slurmctld knows' "$(awk 'NF { n++ } END { print n + 0 }' <<<"$nodes")"
  # %C is allocated/idle/other/total CPUs of the node.
  local i name
  for i in 1 2 3 4; do
    name=$(cut -d' ' -f"$i" <<<"alloc idle other total")
    gauge "slurm_cpus_$name" "CPUs $name" "$(awk -v i="$i" 'NF { split($3, c, "/"); n += c[i] } END { print n + 0 }' <<<"$nodes")"
  done
  for s in PENDING RUNNING COMPLETING SUSPENDED; do
    name=$(tr '[:upper:]' '[:lower:]' <<<"$s")
    gauge "slurm_queue_$name" "Jobs $name" "$(awk -v want="$s" '$1 == want { n++ } END { print n + 0 }' <<<"$queue")"
  done
  # Gres: gpu[:type]:N[(S:…)] ; GresUsed: gpu[:type]:N(IDX:…). Sum the gpu counts of every node.
  local gpus
  gpus=$(awk '
    function count(field,    parts, k, n, m, p) {
      n = 0; m = split(field, parts, ",")
      for (k = 1; k <= m; k++) {
        p = parts[k]; sub(/\(.*$/, "", p)
        if (p ~ /^gpu(:[^:]+)?:[0-9]+$/) { sub(/^.*:/, "", p); n += p }
      }
      return n
    }
    NF >= 3 { total += count($2); used += count($3) }
    END { print used + 0, total + 0 }' <<<"$gres")
  gauge slurm_gpus_alloc 'GPUs allocated to jobs' "${gpus% *}"
  gauge slurm_gpus_total 'GPUs slurmctld knows' "${gpus#* }"
}

ensure_dir "$dir" root:root 0755
while :; do
  work=$(mktemp "$dir/.slurm.prom.XXXXXX")
  collect >"$work"
  chmod 0644 "$work"
  mv -f "$work" "$dir/slurm.prom"
  [[ "${1:-}" == --once ]] && break
  sleep "$interval"
done
