#!/usr/bin/env bash
# The cluster's monitor (a VM of its own, or the controller): Prometheus with the scrape jobs and alert rules the
# library rendered, and Grafana provisioned from files (the Prometheus data source and the cluster's dashboards),
# its admin password from the secret store (generated at first boot, never `admin`, never in user-data), sign-up,
# anonymous access and phoning home off. Rendered files wait in MONITOR_STAGING_DIR; each is installed only when
# it changed, after `promtool` accepted the Prometheus ones, and only the daemon whose files changed restarts.
# Works with systemd (the packages' units; options in /etc/default) and without it (detached, with pid files).
# Inputs: GRAFANA_ADMIN_PASSWORD_SOURCE (generate+aws-secretsmanager:… or generate+gcp-secretmanager:…),
#   PROMETHEUS_RETENTION (default 30d), PROMETHEUS_PORT (9090), GRAFANA_PORT (3000), GRAFANA_ENABLED (default 1).
#   Paths for tests: MONITOR_STAGING_DIR, PROMETHEUS_ETC, PROMETHEUS_STORAGE (without systemd), GRAFANA_ETC,
#   GRAFANA_DASHBOARDS_DIR, MONITOR_PID_DIR.
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
# shellcheck source-path=SCRIPTDIR/.. source=lib/common.sh
source "$here/lib/common.sh"

load_node_env
staging=${MONITOR_STAGING_DIR:-/etc/cdktf-slurm/monitoring}
prom_etc=${PROMETHEUS_ETC:-/etc/prometheus}
grafana_etc=${GRAFANA_ETC:-/etc/grafana}
dashboards_dir=${GRAFANA_DASHBOARDS_DIR:-/var/lib/grafana/dashboards/cdktf-slurm}
pid_dir=${MONITOR_PID_DIR:-/run}
tsdb=${PROMETHEUS_STORAGE:-/var/lib/prometheus/metrics2}
retention=${PROMETHEUS_RETENTION:-30d}
prom_port=${PROMETHEUS_PORT:-9090}
grafana_port=${GRAFANA_PORT:-3000}
grafana=${GRAFANA_ENABLED:-1}

[[ "$retention" =~ ^[1-9][0-9]*(h|d|w|y)$ ]] || die "PROMETHEUS_RETENTION='$retention' is not a Prometheus retention such as 30d or 12w"
for v in prom_port grafana_port; do
  [[ "${!v}" =~ ^[1-9][0-9]{0,4}$ && "${!v}" -le 65535 ]] || die "$v='${!v}' is not a TCP port"
done
for f in prometheus.yml rules.yml; do
  [[ -s "$staging/$f" ]] || die "$staging/$f is missing; the library writes it with the monitor's user-data"
done
if [[ "$grafana" == 1 ]]; then
  require_var GRAFANA_ADMIN_PASSWORD_SOURCE "where Grafana's admin password lives, e.g. 'generate+aws-secretsmanager:hpc/grafana-admin-password'"
  [[ "$GRAFANA_ADMIN_PASSWORD_SOURCE" == generate+* ]] ||
    die "GRAFANA_ADMIN_PASSWORD_SOURCE must be generate+<store> (the monitor makes the password at first boot); got a source without generate+"
  for f in grafana-datasources.yaml grafana-dashboards.yaml; do
    [[ -s "$staging/$f" ]] || die "$staging/$f is missing; the library writes it with the monitor's user-data"
  done
fi

# --- Prometheus ------------------------------------------------------------------------------------------
apt_install prometheus
work=""
make_tmpdir work
# EC2 discovery needs the region in the file; user-data could not carry it (see AWS_REGION_PLACEHOLDER).
cp "$staging/prometheus.yml" "$work/prometheus.yml"
if grep -q '@aws-region@' "$work/prometheus.yml"; then
  region=${AWS_REGION:-$(retry 5 1 _imds_aws meta-data/placement/region)} ||
    die "prometheus.yml discovers EC2 instances but the region is unknown: IMDSv2 did not answer and AWS_REGION is unset"
  [[ "$region" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]] || die "AWS region '$region' from IMDS does not look like a region"
  sed -i "s/@aws-region@/$region/g" "$work/prometheus.yml"
fi
# Rules first: the config names the installed rules file, which promtool opens when it checks the config.
promtool check rules "$staging/rules.yml" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 || die "promtool rejects $staging/rules.yml; see $CDKTF_SLURM_LOG_FILE"
prom_changed=0
ensure_dir "$prom_etc/rules" root:root 0755
install_if_changed "$staging/rules.yml" "$prom_etc/rules/cdktf-slurm.rules.yml" root:root 0644
((INSTALL_CHANGED)) && prom_changed=1
promtool check config "$work/prometheus.yml" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 || die "promtool rejects $staging/prometheus.yml; see $CDKTF_SLURM_LOG_FILE"
install_if_changed "$work/prometheus.yml" "$prom_etc/prometheus.yml" root:root 0644
((INSTALL_CHANGED)) && prom_changed=1
prom_args=(--config.file="$prom_etc/prometheus.yml" --storage.tsdb.retention.time="$retention" --web.listen-address=":$prom_port")
if have_systemd; then
  # Debian's unit adds --config.file and the storage path itself; ARGS carries ours.
  set_default_option prometheus ARGS "--storage.tsdb.retention.time=$retention --web.listen-address=:$prom_port"
  ((INSTALL_CHANGED)) && prom_changed=1
  if ((prom_changed)); then restart_service prometheus /run/prometheus.pid; else start_service prometheus /run/prometheus.pid; fi
else
  ensure_dir "$tsdb" prometheus:prometheus 0755
  prom_cmd=(prometheus "${prom_args[@]}" --storage.tsdb.path="$tsdb")
  if ((prom_changed)); then
    restart_service --write-pidfile --user prometheus prometheus "$pid_dir/cdktf-slurm-prometheus.pid" "${prom_cmd[@]}"
  else
    start_service --write-pidfile --user prometheus prometheus "$pid_dir/cdktf-slurm-prometheus.pid" "${prom_cmd[@]}"
  fi
fi

[[ "$grafana" == 1 ]] || {
  log "GRAFANA_ENABLED=$grafana: Prometheus only"
  exit 0
}

# --- Grafana ---------------------------------------------------------------------------------------------
if ! pkg_installed grafana; then
  # Grafana is not in Debian/Ubuntu: its own signed repository.
  keyring=/etc/apt/keyrings/grafana.gpg
  if [[ ! -s "$keyring" ]]; then
    apt_install ca-certificates curl gnupg
    ensure_dir /etc/apt/keyrings root:root 0755
    retry 5 3 curl -fsSL --max-time 60 -o "$work/grafana.key" https://apt.grafana.com/gpg.key >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
      die "could not download Grafana's signing key from apt.grafana.com; check the monitor's outbound access (NAT)"
    gpg --dearmor <"$work/grafana.key" >"$work/grafana.gpg" || die "Grafana's signing key is not a PGP key"
    install -m 0644 -o root -g root "$work/grafana.gpg" "$keyring"
  fi
  printf 'deb [signed-by=%s] https://apt.grafana.com stable main\n' "$keyring" >/etc/apt/sources.list.d/grafana.list
  apt_install grafana
fi

fetch_or_generate "$GRAFANA_ADMIN_PASSWORD_SOURCE" "$work/admin-password" new_password "a 32-character Grafana admin password"
grafana_changed=0
install_if_changed "$work/admin-password" "$grafana_etc/admin-password" root:grafana 0440
((INSTALL_CHANGED)) && grafana_changed=1
for pair in "grafana-datasources.yaml:$grafana_etc/provisioning/datasources/cdktf-slurm.yaml" \
  "grafana-dashboards.yaml:$grafana_etc/provisioning/dashboards/cdktf-slurm.yaml"; do
  ensure_parent_dir "${pair#*:}" root:root
  install_if_changed "$staging/${pair%%:*}" "${pair#*:}" root:grafana 0640
  ((INSTALL_CHANGED)) && grafana_changed=1
done
ensure_dir "$dashboards_dir" root:grafana 0750
for f in "$staging"/dashboards/*.json; do
  [[ -e "$f" ]] || continue
  install_if_changed "$f" "$dashboards_dir/$(basename "$f")" root:grafana 0640
  ((INSTALL_CHANGED)) && grafana_changed=1
done

# Settings through the environment (GF_<SECTION>_<KEY>): the package's grafana.ini stays untouched.
settings=(
  "GF_SECURITY_ADMIN_PASSWORD__FILE=$grafana_etc/admin-password"
  "GF_SERVER_HTTP_PORT=$grafana_port"
  GF_USERS_ALLOW_SIGN_UP=false
  GF_AUTH_ANONYMOUS_ENABLED=false
  GF_ANALYTICS_REPORTING_ENABLED=false
  GF_ANALYTICS_CHECK_FOR_UPDATES=false
  GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES=false
)
for kv in "${settings[@]}"; do
  set_default_option grafana-server "${kv%%=*}" "${kv#*=}"
  ((INSTALL_CHANGED)) && grafana_changed=1
done
if have_systemd; then
  if ((grafana_changed)); then restart_service grafana-server /run/grafana-server.pid; else start_service grafana-server /run/grafana-server.pid; fi
else
  export "${settings[@]?}"
  grafana_cmd=(grafana server --homepath=/usr/share/grafana --config="$grafana_etc/grafana.ini" cfg:default.paths.provisioning="$grafana_etc/provisioning")
  if ((grafana_changed)); then
    restart_service --write-pidfile --user grafana grafana-server "$pid_dir/cdktf-slurm-grafana.pid" "${grafana_cmd[@]}"
  else
    start_service --write-pidfile --user grafana grafana-server "$pid_dir/cdktf-slurm-grafana.pid" "${grafana_cmd[@]}"
  fi
fi
log "monitor up: Prometheus on :$prom_port (retention $retention), Grafana on :$grafana_port"
