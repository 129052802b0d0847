#!/usr/bin/env bash
# Controller step: job mail (sbatch --mail-type) through the site's SMTP relay. slurmctld runs MailProg
# (/usr/bin/mail, from bsd-mailx) as SlurmUser; mail hands the message to /usr/sbin/sendmail, which msmtp-mta
# provides, and msmtp relays it with STARTTLS (or implicit TLS on 465) per /etc/msmtprc. No local mail server,
# nothing listens. The relay password, when there is one, is fetched by reference into a file only root and the
# slurm group can read; msmtp reads it through passwordeval, so it is never in msmtprc, argv or the log.
# Inputs: MAIL_RELAY (host:port), MAIL_FROM (envelope sender), MAIL_USER (SMTP user, optional),
#   MAIL_PASSWORD_SOURCE (secret reference, with MAIL_USER), MAIL_TLS (starttls|tls|off, default starttls).
#   Paths for tests: MSMTPRC, MAIL_PASSWORD_FILE.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/common.sh"

load_node_env
require_var MAIL_RELAY "the SMTP relay, e.g. MAIL_RELAY='smtp.example.org:587'"
require_var MAIL_FROM "the sender address, e.g. MAIL_FROM='slurm@example.org'"
rc=${MSMTPRC:-/etc/msmtprc}
password_file=${MAIL_PASSWORD_FILE:-/etc/cdktf-slurm/mail-password}
tls=${MAIL_TLS:-starttls}
[[ "$MAIL_RELAY" =~ ^([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):([0-9]{1,5})$ ]] ||
  die "MAIL_RELAY='$MAIL_RELAY' is not host:port; give e.g. smtp.example.org:587"
host=${BASH_REMATCH[1]} port=${BASH_REMATCH[3]}
[[ "$MAIL_FROM" =~ ^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+$ ]] || die "MAIL_FROM='$MAIL_FROM' is not an e-mail address"
case "$tls" in starttls | tls | off) ;; *) die "MAIL_TLS='$tls' must be starttls, tls or off" ;; esac
if [[ -n "${MAIL_PASSWORD_SOURCE:-}" ]]; then
  [[ -n "${MAIL_USER:-}" ]] || die "MAIL_PASSWORD_SOURCE is set but MAIL_USER is not; the relay needs both to log in"
  [[ "$tls" != off ]] || die "refusing to send the relay password without TLS; set MAIL_TLS to starttls or tls"
fi

apt_install msmtp msmtp-mta bsd-mailx

work=""
make_tmpdir work
{
  printf '# Written by cdktf-slurm (mail-relay.sh); changes are overwritten on the next bootstrap.\n'
  printf 'defaults\nsyslog LOG_MAIL\n'
  if [[ "$tls" == off ]]; then
    printf 'tls off\n'
  else
    printf 'tls on\ntls_trust_file /etc/ssl/certs/ca-certificates.crt\n'
    [[ "$tls" == tls ]] && printf 'tls_starttls off\n'
  fi
  printf '\naccount relay\nhost %s\nport %s\nfrom %s\n' "$host" "$port" "$MAIL_FROM"
  if [[ -n "${MAIL_PASSWORD_SOURCE:-}" ]]; then
    printf 'auth on\nuser %s\npasswordeval cat %s\n' "$MAIL_USER" "$password_file"
  else
    printf 'auth off\n'
  fi
  printf '\naccount default : relay\n'
} >"$work/msmtprc"
# msmtp refuses a world-readable file that names a password source; mail runs as slurm, which must read it.
install_if_changed "$work/msmtprc" "$rc" root:slurm 0640
if [[ -n "${MAIL_PASSWORD_SOURCE:-}" ]]; then
  fetch_secret "$MAIL_PASSWORD_SOURCE" "$password_file" root:slurm 0640
fi
log "job mail relays through $host:$port (TLS: $tls) as $MAIL_FROM"
