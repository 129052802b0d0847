#!/usr/bin/env bash
# Accounting host: (DB_LOCAL=1) run MariaDB and create the Slurm database and user; write slurmdbd.conf
# from the staged file plus StoragePass from the secret store; run slurmdbd; register the cluster.
# Inputs: CLUSTER_NAME, DB_PASSWORD_SOURCE (generate+<store> creates it on first boot), DB_LOCAL, staged $CDKTF_SLURM_STAGING_DIR/slurmdbd.conf.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/common.sh"

load_node_env
require_var CLUSTER_NAME
require_var DB_PASSWORD_SOURCE "e.g. DB_PASSWORD_SOURCE='aws-secretsmanager:arn:…'"
DB_LOCAL=${DB_LOCAL:-0}
[[ "$DB_LOCAL" == 0 || "$DB_LOCAL" == 1 ]] || die "DB_LOCAL must be 0 or 1, got '$DB_LOCAL'; set DB_LOCAL=1 to run MariaDB on this host"
if [[ "$DB_PASSWORD_SOURCE" == generate+* ]]; then
  [[ " ${CDKTF_SLURM_ROLES:-} " == *" dbd "* ]] ||
    die "DB_PASSWORD_SOURCE='$DB_PASSWORD_SOURCE' uses generate+ but this host's roles are '${CDKTF_SLURM_ROLES:-}'; only the dbd host may create the DB password"
  [[ "$DB_PASSWORD_SOURCE" == generate+aws-secretsmanager:* || "$DB_PASSWORD_SOURCE" == generate+gcp-secretmanager:* ]] ||
    die "DB_PASSWORD_SOURCE='$DB_PASSWORD_SOURCE': generate+ works with aws-secretsmanager: or gcp-secretmanager: only"
fi

staged="$CDKTF_SLURM_STAGING_DIR/slurmdbd.conf"
[[ -f "$staged" ]] || die "no staged slurmdbd.conf in $CDKTF_SLURM_STAGING_DIR; cloud-init should have written it for the dbd host"
if [[ -n "$(conf_get "$staged" StoragePass "")" ]]; then
  die "staged $staged contains StoragePass; it must be rendered without it (this script appends it from DB_PASSWORD_SOURCE) so the password stays out of user-data"
fi

slurm_user=$(conf_get "$staged" SlurmUser root)
id "$slurm_user" >/dev/null 2>&1 || die "SlurmUser '$slurm_user' in $staged does not exist; install the slurmdbd package or fix SlurmUser"
storage_user=$(conf_get "$staged" StorageUser "$slurm_user")
storage_loc=$(conf_get "$staged" StorageLoc slurm_acct_db)
storage_host=$(conf_get "$staged" StorageHost localhost)
dbd_port=$(conf_get "$staged" DbdPort 6819)
pidfile=$(conf_get "$staged" PidFile /run/slurmdbd.pid)
logfile=$(conf_get "$staged" LogFile "")
# Names go into SQL identifiers and strings: allow only plain ones.
[[ "$storage_user" =~ ^[A-Za-z0-9_]{1,80}$ ]] || die "StorageUser '$storage_user' in $staged must be letters, digits or _"
[[ "$storage_loc" =~ ^[A-Za-z0-9_]{1,64}$ ]] || die "StorageLoc '$storage_loc' in $staged must be letters, digits or _"

# [A-Za-z0-9] only: slurmdbd.conf has no quoting, and SQL strings below take it verbatim.
make_tmpdir work
fetch_or_generate "$DB_PASSWORD_SOURCE" "$work/dbpass" new_password "a 32-character DB password"
db_pass=$(<"$work/dbpass") # drops trailing newlines, which are never part of a password
[[ -n "$db_pass" ]] || die "DB password from '$DB_PASSWORD_SOURCE' is empty; store a non-empty value"
# slurmdbd.conf has no quoting for these; '#' would start a comment.
if [[ "$db_pass" =~ [[:space:]\#\"\'\\] ]]; then
  die "DB password from '$DB_PASSWORD_SOURCE' contains whitespace, '#', quotes or '\\', which slurmdbd.conf cannot hold; regenerate it without them (e.g. random_password with override_special = \"-_.+=\")"
fi

# --- local MariaDB ------------------------------------------------------------------------------------
mysql_client() { if command -v mariadb >/dev/null 2>&1; then mariadb "$@"; else mysql "$@"; fi; }
mysql_admin() { if command -v mariadb-admin >/dev/null 2>&1; then mariadb-admin "$@"; else mysqladmin "$@"; fi; }

if [[ "$DB_LOCAL" == 1 ]]; then
  case "$storage_host" in localhost | 127.0.0.1 | ::1) ;; *)
    log "warning: DB_LOCAL=1 but StorageHost=$storage_host; slurmdbd will connect there, not to the local MariaDB" ;;
  esac
  db_changed=0
  # Slurm's accounting docs ask for a long lock wait so big purges/rollups don't fail.
  if [[ -d /etc/mysql/mariadb.conf.d ]]; then
    printf '# Written by cdktf-slurm bootstrap (slurmdbd.sh)\n[mysqld]\ninnodb_lock_wait_timeout=900\n' >"$work/90-slurm.cnf"
    install_if_changed "$work/90-slurm.cnf" /etc/mysql/mariadb.conf.d/90-cdktf-slurm.cnf root:root 0644
    db_changed=$INSTALL_CHANGED
  fi
  mysqld_bin=$(command -v mariadbd || command -v mysqld || true)
  [[ -n "$mysqld_bin" ]] || die "DB_LOCAL=1 but neither mariadbd nor mysqld is installed; install mariadb-server (packages.sh does when DB_LOCAL=1)"
  ensure_dir /run/mysqld mysql:mysql 0755
  if [[ ! -d /var/lib/mysql/mysql ]]; then
    log "initialising MariaDB data directory /var/lib/mysql"
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
      die "mariadb-install-db failed; see $CDKTF_SLURM_LOG_FILE"
  fi
  db_pidfile=/run/mysqld/mysqld.pid
  db_cmd=("$mysqld_bin" --user=mysql --pid-file="$db_pidfile" --socket=/run/mysqld/mysqld.sock)
  if ((db_changed)) && service_running mariadb "$db_pidfile" "$(basename "$mysqld_bin")"; then
    restart_service --foreground mariadb "$db_pidfile" "${db_cmd[@]}"
  else
    start_service --foreground mariadb "$db_pidfile" "${db_cmd[@]}"
  fi
  wait_until 60 0.5 mysql_admin --protocol=socket ping ||
    die "MariaDB does not answer on /run/mysqld/mysqld.sock after 60s; see /var/log/mysql/error.log or $CDKTF_SLURM_LOG_FILE"

  # SQL goes through stdin so the password is never in argv (ps) or the log. MariaDB string literals:
  # the password has no quotes/backslashes (checked above).
  sql="CREATE DATABASE IF NOT EXISTS \`$storage_loc\`;"
  for h in localhost 127.0.0.1; do
    sql+="CREATE USER IF NOT EXISTS '$storage_user'@'$h' IDENTIFIED BY '$db_pass';"
    sql+="ALTER USER '$storage_user'@'$h' IDENTIFIED BY '$db_pass';"
    sql+="GRANT ALL PRIVILEGES ON \`$storage_loc\`.* TO '$storage_user'@'$h';"
  done
  printf '%s\n' "$sql" | mysql_client --protocol=socket -u root >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
    die "could not create database '$storage_loc' / user '$storage_user' in the local MariaDB as root (unix socket auth); see $CDKTF_SLURM_LOG_FILE"
  unset sql
  log "MariaDB ready: database $storage_loc, user $storage_user"
fi

# --- slurmdbd.conf + daemon ---------------------------------------------------------------------------
{
  cat "$staged"
  [[ -z "$(tail -c1 "$staged")" ]] || printf '\n'
  printf 'StoragePass=%s\n' "$db_pass"
} >"$work/slurmdbd.conf"
unset db_pass
install_if_changed "$work/slurmdbd.conf" "$SLURM_CONF_DIR/slurmdbd.conf" "$slurm_user" 0600
changed=$INSTALL_CHANGED

ensure_parent_dir "$pidfile" root
ensure_log_file "$logfile" "$slurm_user"

# slurmdbd finds slurmdbd.conf next to $SLURM_CONF.
export SLURM_CONF="$SLURM_CONF_DIR/slurm.conf"
if ((changed)) && service_running slurmdbd "$pidfile" slurmdbd; then
  log "slurmdbd.conf changed: restarting slurmdbd"
  restart_service slurmdbd "$pidfile" slurmdbd
else
  start_service slurmdbd "$pidfile" slurmdbd
fi

_dbd_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$dbd_port") 2>/dev/null; }
wait_until 60 0.5 _dbd_listening ||
  die "slurmdbd is not listening on port $dbd_port after 60s; see ${logfile:-syslog} (database reachable? StoragePass right?)"

# sacctmgr needs a slurm.conf naming the dbd. A dbd-only host has none: give it a minimal private one.
if [[ -f "$SLURM_CONF_DIR/slurm.conf" ]]; then
  client_conf="$SLURM_CONF_DIR/slurm.conf"
elif [[ -f "$CDKTF_SLURM_STAGING_DIR/slurm.conf" ]]; then
  client_conf="$CDKTF_SLURM_STAGING_DIR/slurm.conf"
else
  client_conf="$work/slurm.conf"
  printf 'ClusterName=%s\nSlurmctldHost=localhost\nAuthType=auth/munge\nAccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=localhost\nAccountingStoragePort=%s\n' \
    "$CLUSTER_NAME" "$dbd_port" >"$client_conf"
  chmod 0644 "$client_conf"
fi
_clusters() { SLURM_CONF="$client_conf" sacctmgr -n -P list cluster format=cluster; }
wait_until 60 1 _clusters || die "sacctmgr cannot talk to slurmdbd after 60s; see ${logfile:-syslog} and check munge"
cluster_lc=$(tr '[:upper:]' '[:lower:]' <<<"$CLUSTER_NAME")
if _clusters | tr '[:upper:]' '[:lower:]' | grep -qxF "$cluster_lc"; then
  log "cluster $CLUSTER_NAME already registered in slurmdbd"
else
  SLURM_CONF="$client_conf" sacctmgr -i add cluster "$CLUSTER_NAME" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
    die "sacctmgr add cluster $CLUSTER_NAME failed; see $CDKTF_SLURM_LOG_FILE"
  log "registered cluster $CLUSTER_NAME in slurmdbd"
fi
log "slurmdbd is up on port $dbd_port"
