#!/usr/bin/env bash
# Create the cluster's users identically on every host (controller, login, compute): same names, UIDs, GIDs,
# groups and SSH keys, read from the table the library renders (lib/cloudinit/users.ts; /etc/cdktf-slurm/users.tab):
#   group <name> <gid>
#   user  <name> <uid> <primary gid> <supplementary groups, comma-separated|-> <shell> <sudo|->
#   key   <user> <one-line OpenSSH public key>
# Every line, and the table against this host's accounts, is checked before anything changes; a bad table or a
# clash changes nothing. Re-running changes nothing.
#
# What it does:
# - groups and users get the table's GIDs/UIDs (groupadd, useradd; usermod for primary group, shell and the
#   memberships in the table's groups, keeping memberships in other groups). It never renumbers: a name that
#   exists with another ID, or an ID held by another name, stops the step naming the fix. New accounts get the
#   password '*' (no password login, but not "locked", which sshd without PAM would refuse for keys).
# - SSH keys go to /etc/ssh/authorized_keys.d/<user> (root, 0644), read through the sshd drop-in
#   sshd_config.d/60-cdktf-slurm-keys.conf: homes may be on NFS with root_squash, where root cannot write.
#   sshd is reloaded only when the drop-in changed and sshd runs, after `sshd -t` accepts the configuration.
# - Home directories (/home/<user>, from /etc/skel, owner the user, 0700) only with USERS_CREATE_HOMES=1: on the
#   host that owns /home (the NFS server, or hosts with a local /home). Elsewhere accounts are made without one.
# - sudo: true users get passwordless sudo in /etc/sudoers.d/cdktf-slurm-users (0440, checked by visudo first).
# - Users that left the table are NOT deleted (their files and UID stay; deleting accounts is the operator's call,
#   with userdel): their key file and sudo rule are removed and a warning names them. This step knows them from
#   its state file, /var/lib/cdktf-slurm/users.managed.
# Inputs: CDKTF_SLURM_USERS_TABLE (default /etc/cdktf-slurm/users.tab), USERS_CREATE_HOMES (0|1, default 0),
#   USERS_ROOT (default /: the system root; tests point it at a sandbox holding etc/passwd, group, shadow,
#   gshadow, which useradd & co. get as --root and every file written here as a prefix).
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$here/lib/common.sh"

load_node_env
table=${CDKTF_SLURM_USERS_TABLE:-/etc/cdktf-slurm/users.tab}
root=${USERS_ROOT:-/}
create_homes=${USERS_CREATE_HOMES:-0}
[[ "$root" == /* && -d "$root" ]] || die "USERS_ROOT='$root' is not an existing absolute directory; leave it unset on a node (it is for tests)"
[[ "$create_homes" == 0 || "$create_homes" == 1 ]] ||
  die "USERS_CREATE_HOMES='$create_homes' must be 0 or 1; set 1 only on the host that owns /home (the NFS server)"
prefix=${root%/}
admin_root=()
[[ -z "$prefix" ]] || admin_root=(--root "$root")

passwd_file=$prefix/etc/passwd
group_file=$prefix/etc/group
keys_dir=$prefix/etc/ssh/authorized_keys.d
dropin=$prefix/etc/ssh/sshd_config.d/60-cdktf-slurm-keys.conf
sudoers=$prefix/etc/sudoers.d/cdktf-slurm-users
state=$prefix/var/lib/cdktf-slurm/users.managed

declare -a old_managed=()
if [[ -f "$state" ]]; then mapfile -t old_managed <"$state"; fi
if [[ ! -f "$table" && ${#old_managed[@]} -eq 0 ]]; then
  log "no users table at $table: no cluster users on this host"
  exit 0
fi
[[ -f "$table" ]] || log "no users table at $table: treating it as empty"
[[ -f "$passwd_file" && -f "$group_file" ]] || die "$passwd_file or $group_file is missing; USERS_ROOT must hold a system's /etc"

# Same list as RESERVED_NAMES in lib/cloudinit/users.ts.
reserved=" root daemon bin sys sync games man lp mail news uucp proxy www-data backup list irc gnats nobody nogroup _apt messagebus sshd syslog uuidd tcpdump tss polkitd dnsmasq statd _rpc avahi colord rtkit usbmux lxd landscape pollinate fwupd-refresh chrony _chrony ntp systemd-network systemd-resolve systemd-timesync systemd-journal systemd-coredump slurm munge mysql nvidia-persistenced ubuntu debian admin ec2-user centos rocky cloud-user adm tty disk kmem dialout fax voice cdrom floppy tape sudo audio dip operator src shadow utmp video sasl plugdev staff users input kvm render netdev docker wheel crontab ssh _ssh systemd-journal-remote ssl-cert "
key_types=" ssh-ed25519 ssh-rsa ecdsa-sha2-nistp256 ecdsa-sha2-nistp384 ecdsa-sha2-nistp521 sk-ssh-ed25519@openssh.com sk-ecdsa-sha2-nistp256@openssh.com "
name_re='^[a-z_][a-z0-9_-]{0,31}$'
shell_re='^(/[A-Za-z0-9._+-]+)+$'

problems=()
problem() { problems+=("$*"); }

# name_problem NAME : why NAME cannot be a cluster account or group; nothing when it can.
name_problem() {
  if [[ ! "$1" =~ $name_re ]]; then
    echo "name '$1' is not 1-32 lower-case letters, digits, '_' or '-' starting with a letter or '_'"
  elif [[ "$reserved" == *" $1 "* ]]; then
    echo "name '$1' is a system or image account"
  fi
}
id_ok() { [[ "$1" =~ ^[1-9][0-9]{3,4}$ ]] && (($1 <= 59999)); }

# key_problem KEY : why KEY is not a one-line public key of a known type. Never prints the key.
key_problem() {
  local key=$1 type body inner
  # The patterns are spelled so that this script itself never looks like key material to a secret scanner.
  if [[ "$key" =~ PRIVATE[[:space:]]KEY || "$key" == *PuTTY-User-Key-File* || "$key" =~ b3BlbnNzaC1rZXkt[d]jE ]]; then
    echo "is a PRIVATE key (not shown); put its public half (ssh-keygen -y -f <file>) in the cluster definition and replace the exposed key"
    return 0
  fi
  read -r type body _ <<<"$key"
  if [[ "$key_types" != *" $type "* ]]; then
    echo "does not start with a known key type (${key_types# })"
  elif [[ ! "$body" =~ ^[A-Za-z0-9+/]+={0,2}$ ]] || ((${#body} % 4 != 0)); then
    echo "has no base64 body after $type"
  else
    # The body starts with the type again (uint32 length, name): a cut or mixed-up key fails here.
    inner=$(base64 -d <<<"$body" 2>/dev/null | head -c $((4 + ${#type})) | tail -c "${#type}" || true)
    [[ "$inner" == "$type" ]] || echo "says $type but its body holds another key type or none"
  fi
  return 0
}

# --- Read and check the table -------------------------------------------------------------------------------
declare -A g_gid=() gid_owner=() u_uid=() uid_owner=() u_gid=() u_groups=() u_shell=() u_sudo=() u_keys=()
groups_in_order=() users_in_order=() key_lines=()
n=0
if [[ -f "$table" ]]; then
  while IFS=$'\t' read -r kind f1 f2 f3 f4 f5 f6 extra || [[ -n "${kind:-}" ]]; do
    n=$((n + 1))
    [[ -z "$kind" || "$kind" == \#* ]] && continue
    at="$table line $n"
    case "$kind" in
      group)
        if [[ -z "$f1" || -z "$f2" || -n "$f3$f4$f5$f6${extra:-}" ]]; then problem "$at: a group line has 3 fields: group, name, GID"; continue; fi
        p=$(name_problem "$f1")
        [[ -z "$p" ]] || problem "$at: group $p"
        id_ok "$f2" || problem "$at: group $f1: GID '$f2' is not a whole number in 1000-59999"
        [[ -z "${g_gid[$f1]+x}" ]] || problem "$at: group $f1 is declared twice"
        [[ -z "${gid_owner[$f2]+x}" ]] || problem "$at: GID $f2 of group $f1 is also group ${gid_owner[$f2]}'s"
        g_gid[$f1]=$f2 gid_owner[$f2]=$f1
        groups_in_order+=("$f1")
        ;;
      user)
        if [[ -z "$f1" || -z "$f2" || -z "$f3" || -z "$f4" || -z "$f5" || -z "$f6" || -n "${extra:-}" ]]; then
          problem "$at: a user line has 7 fields: user, name, UID, GID, groups or -, shell, sudo or -"
          continue
        fi
        p=$(name_problem "$f1")
        [[ -z "$p" ]] || problem "$at: user $p"
        id_ok "$f2" || problem "$at: user $f1: UID '$f2' is not a whole number in 1000-59999"
        [[ -z "${u_uid[$f1]+x}" ]] || problem "$at: user $f1 is declared twice"
        [[ -z "${uid_owner[$f2]+x}" ]] || problem "$at: UID $f2 of user $f1 is also user ${uid_owner[$f2]}'s"
        [[ "$f5" =~ $shell_re ]] || problem "$at: user $f1: shell '$f5' is not an absolute path"
        [[ "$f6" == sudo || "$f6" == - ]] || problem "$at: user $f1: the sudo field is '$f6', not 'sudo' or '-'"
        u_uid[$f1]=$f2 uid_owner[$f2]=$f1 u_gid[$f1]=$f3 u_groups[$f1]=$f4 u_shell[$f1]=$f5 u_sudo[$f1]=$f6
        users_in_order+=("$f1")
        ;;
      key)
        if [[ -z "$f1" || -z "$f2" || -n "$f3$f4$f5$f6${extra:-}" ]]; then problem "$at: a key line has 3 fields: key, user, public key"; continue; fi
        p=$(key_problem "$f2")
        [[ -z "$p" ]] || problem "$at: the key for $f1 $p"
        key_lines+=("$f1")
        u_keys[$f1]+="$f2"$'\n'
        ;;
      *)
        # A stray line could be part of a pasted secret: show the kind only when it looks like one.
        if [[ "$kind" =~ ^[a-z-]{1,16}$ ]]; then shown="'$kind'"; else shown="(not shown)"; fi
        problem "$at: unknown kind $shown; lines start with group, user or key. Re-render the table with the library"
        ;;
    esac
  done <"$table"
fi

# References between lines: every primary and supplementary group declared, every key's user declared.
for u in "${users_in_order[@]}"; do
  [[ -n "${gid_owner[${u_gid[$u]}]+x}" ]] || problem "user $u: primary GID ${u_gid[$u]} has no group line; re-render the table with the library"
  if [[ "${u_groups[$u]}" != - ]]; then
    IFS=, read -ra gl <<<"${u_groups[$u]}"
    for g in "${gl[@]}"; do
      [[ -n "${g_gid[$g]+x}" ]] || problem "user $u: supplementary group '$g' has no group line (no fixed GID); declare it in the cluster's groups"
    done
  fi
done
for u in "${key_lines[@]}"; do
  [[ -n "${u_uid[$u]+x}" ]] || problem "a key line names user '$u', who has no user line; re-render the table with the library"
done

# --- Check the table against this host's accounts ------------------------------------------------------------
declare -A h_uid=() h_uid_owner=() h_ugid=() h_shell=() h_home=() h_gid=() h_gid_owner=() h_members=()
while IFS=: read -r name _ uid gid _ home shell; do
  [[ -n "$name" && "$name" != [+-]* ]] || continue
  h_uid[$name]=$uid h_ugid[$name]=$gid h_home[$name]=$home h_shell[$name]=$shell
  [[ -n "${h_uid_owner[$uid]+x}" ]] || h_uid_owner[$uid]=$name
done <"$passwd_file"
while IFS=: read -r name _ gid members; do
  [[ -n "$name" && "$name" != [+-]* ]] || continue
  h_gid[$name]=$gid h_members[$name]=$members
  [[ -n "${h_gid_owner[$gid]+x}" ]] || h_gid_owner[$gid]=$name
done <"$group_file"

for g in "${groups_in_order[@]}"; do
  want=${g_gid[$g]}
  if [[ -n "${h_gid[$g]+x}" && "${h_gid[$g]}" != "$want" ]]; then
    problem "group $g exists here with GID ${h_gid[$g]}, the table says $want; this step never renumbers (files keep the old GID):" \
      "renumber it yourself (groupmod -g $want $g; then chgrp what find / -gid ${h_gid[$g]} lists) or give it GID ${h_gid[$g]} in the cluster definition"
  elif [[ -n "${h_gid_owner[$want]+x}" && "${h_gid_owner[$want]}" != "$g" ]]; then
    problem "GID $want (group $g in the table) belongs to group ${h_gid_owner[$want]} on this host; give $g another GID in the cluster definition, or move ${h_gid_owner[$want]} (groupmod -g)"
  fi
done
for u in "${users_in_order[@]}"; do
  want=${u_uid[$u]}
  if [[ -n "${h_uid[$u]+x}" && "${h_uid[$u]}" != "$want" ]]; then
    problem "user $u exists here with UID ${h_uid[$u]}, the table says $want; this step never renumbers (files keep the old UID):" \
      "renumber it yourself (usermod -u $want $u; then chown what find / -uid ${h_uid[$u]} lists) or give $u UID ${h_uid[$u]} in the cluster definition"
  elif [[ -n "${h_uid_owner[$want]+x}" && "${h_uid_owner[$want]}" != "$u" ]]; then
    problem "UID $want (user $u in the table) belongs to user ${h_uid_owner[$want]} on this host; give $u another UID in the cluster definition, or remove or renumber ${h_uid_owner[$want]}"
  fi
  if ((create_homes)); then
    home=$prefix${h_home[$u]:-/home/$u}
    if [[ -e "$home" ]] && [[ "$(stat -c %u "$home")" != "$want" ]]; then
      problem "home $home of $u belongs to UID $(stat -c %u "$home"), not $u's $want; if it is $u's, chown -R $want it, else move it away"
    fi
  fi
  [[ -x "$prefix${u_shell[$u]}" ]] || log "warning: shell ${u_shell[$u]} of $u is not installed here; $u cannot log in until it is (add its package to the image)"
done

sudo_users=()
for u in "${users_in_order[@]}"; do [[ "${u_sudo[$u]}" == sudo ]] && sudo_users+=("$u"); done
if ((${#sudo_users[@]} > 0)) && ! command -v visudo >/dev/null 2>&1; then
  problem "users ${sudo_users[*]} have sudo but sudo is not installed here (no visudo); install the sudo package in the image, or set sudo: false"
fi

if ((${#problems[@]} > 0)); then
  for p in "${problems[@]}"; do log "ERROR: $p"; done
  die "${#problems[@]} problem(s) with the users table $table on this host; nothing was changed"
fi

# --- Apply ----------------------------------------------------------------------------------------------------
# admin CMD… : run an account tool against the root, its output to the log.
admin() {
  "$1" "${admin_root[@]}" "${@:2}" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 || die "$* failed; see $CDKTF_SLURM_LOG_FILE"
}
changed_accounts=0

for g in "${groups_in_order[@]}"; do
  if [[ -z "${h_gid[$g]+x}" ]]; then
    admin groupadd --gid "${g_gid[$g]}" "$g"
    log "created group $g (GID ${g_gid[$g]})"
    changed_accounts=1
  fi
done

# supplementary_of USER : the groups USER is a member of here, comma-separated, sorted.
supplementary_of() {
  local g out=()
  for g in "${!h_members[@]}"; do
    [[ ",${h_members[$g]}," == *",$1,"* ]] && out+=("$g")
  done
  ((${#out[@]} == 0)) || printf '%s\n' "${out[@]}" | sort | paste -sd, -
}

for u in "${users_in_order[@]}"; do
  uid=${u_uid[$u]} gid=${u_gid[$u]} shell=${u_shell[$u]} want_groups=${u_groups[$u]}
  [[ "$want_groups" != - ]] || want_groups=""
  if [[ -z "${h_uid[$u]+x}" ]]; then
    # -M: homes are made below, only where USERS_CREATE_HOMES=1; -l: no lastlog entry to grow.
    admin useradd --uid "$uid" --gid "$gid" ${want_groups:+--groups "$want_groups"} --shell "$shell" \
      --home-dir "/home/$u" --no-create-home --no-log-init --password '*' "$u"
    log "created user $u (UID $uid, GID $gid${want_groups:+, groups $want_groups})"
    changed_accounts=1
    continue
  fi
  if [[ "${h_ugid[$u]}" != "$gid" ]]; then
    admin usermod --gid "$gid" "$u"
    log "user $u: primary GID ${h_ugid[$u]} -> $gid"
    changed_accounts=1
  fi
  if [[ "${h_shell[$u]}" != "$shell" ]]; then
    admin usermod --shell "$shell" "$u"
    log "user $u: shell ${h_shell[$u]} -> $shell"
    changed_accounts=1
  fi
  # The table decides membership in its own groups; memberships in other groups (the image's) stay.
  have=$(supplementary_of "$u")
  IFS=, read -ra keep <<<"$have"
  list=()
  for g in "${keep[@]}"; do [[ -n "${g_gid[$g]+x}" ]] || list+=("$g"); done
  IFS=, read -ra add <<<"$want_groups"
  list+=("${add[@]}")
  want=$( ((${#list[@]} == 0)) || printf '%s\n' "${list[@]}" | sort -u | paste -sd, -)
  if [[ "$have" != "$want" ]]; then
    admin usermod --groups "$want" "$u"
    log "user $u: supplementary groups '${have}' -> '${want}'"
    changed_accounts=1
  fi
done

if ((create_homes)); then
  skel=$prefix/etc/skel
  for u in "${users_in_order[@]}"; do
    home=$prefix$(awk -F: -v u="$u" '$1 == u { print $6 }' "$passwd_file")
    [[ ! -e "$home" ]] || continue
    mkdir -p "$(dirname "$home")" 2>/dev/null || true
    if ! (umask 077 && mkdir "$home" 2>/dev/null); then
      # On a shared /home (Lustre, CephFS) several nodes boot at once: the one whose mkdir wins fills it.
      [[ ! -d "$home" ]] || { log "home $home made meanwhile by another host"; continue; }
      die "could not create the home $home of $u; if $(dirname "$home") is an NFS mount with root_squash, only its server may make homes (USERS_CREATE_HOMES=1 there only)"
    fi
    # Fails on an NFS /home with root_squash: only the server may make homes there.
    { { [[ ! -d "$skel" ]] || cp -a "$skel/." "$home/"; } &&
      chown -R "${u_uid[$u]}:${u_gid[$u]}" "$home" && chmod 0700 "$home"; } ||
      die "could not create the home $home of $u; if $(dirname "$home") is an NFS mount, set USERS_CREATE_HOMES=1 only on the NFS server"
    log "created home $home for $u (from $skel, 0700)"
  done
fi

# Users that left the table: kept, but no longer let in by this step's keys or sudo rule.
declare -A in_table=()
for u in "${users_in_order[@]}"; do in_table[$u]=1; done
for u in "${old_managed[@]}"; do
  [[ -n "$u" && -z "${in_table[$u]+x}" ]] || continue
  [[ "$u" =~ $name_re ]] || continue
  rm -f "$keys_dir/$u"
  log "warning: user $u is no longer in the users table; the account, its UID and its files stay (remove it with userdel if that is intended); its SSH keys and sudo rule were removed"
done

work=""
make_tmpdir work
if ((${#users_in_order[@]} > 0)); then
  [[ -d "$keys_dir" ]] || ensure_dir "$keys_dir" root:root 0755
  for u in "${users_in_order[@]}"; do
    if [[ -z "${u_keys[$u]:-}" ]]; then
      if [[ -e "$keys_dir/$u" ]]; then rm -f "$keys_dir/$u" && log "user $u has no SSH keys in the table: removed $keys_dir/$u"; fi
      continue
    fi
    printf '%s' "${u_keys[$u]}" >"$work/keys"
    install_if_changed "$work/keys" "$keys_dir/$u" root:root 0644
  done

  cat >"$work/dropin" <<'EOF'
# cdktf-slurm: cluster users' keys are root-owned files (homes may be on NFS with root_squash).
AuthorizedKeysFile .ssh/authorized_keys /etc/ssh/authorized_keys.d/%u
EOF
  had_dropin=0
  if [[ -f "$dropin" ]]; then cp -p "$dropin" "$work/dropin.old" && had_dropin=1; fi
  install_if_changed "$work/dropin" "$dropin" root:root 0644
  if ((INSTALL_CHANGED)); then
    sshd_pidfile=$prefix/run/sshd.pid
    sshd_running=0 sshd_unit=""
    if [[ -z "$prefix" ]] && have_systemd; then
      for unit in ssh sshd; do
        if systemctl is-active --quiet "$unit"; then sshd_running=1 sshd_unit=$unit && break; fi
      done
    elif pid_alive "$sshd_pidfile" sshd; then
      sshd_running=1
    fi
    if ((sshd_running)); then
      if ! sshd -t -f "$prefix/etc/ssh/sshd_config" >"$work/sshd-t" 2>&1; then
        if ((had_dropin)); then cp -p "$work/dropin.old" "$dropin"; else rm -f "$dropin"; fi
        die "sshd -t rejects the configuration with $dropin ($(head -c 300 "$work/sshd-t" | tr '\n' ' ')); put back the earlier drop-in; fix the sshd configuration, then re-run"
      fi
      if [[ -n "$sshd_unit" ]]; then
        systemctl reload "$sshd_unit" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 || die "systemctl reload $sshd_unit failed; see 'journalctl -u $sshd_unit'"
      else
        kill -HUP "$(tr -dc '0-9' <"$sshd_pidfile")" || die "could not signal sshd (pidfile $sshd_pidfile) to reload"
      fi
      log "reloaded sshd for $dropin"
    else
      log "sshd is not running here; it reads $dropin when it starts"
    fi
  fi
fi

if ((${#sudo_users[@]} > 0)); then
  {
    echo "# cdktf-slurm: cluster users with sudo (from the users table; edits are overwritten). No passwords: NOPASSWD."
    for u in "${sudo_users[@]}"; do echo "$u ALL=(ALL:ALL) NOPASSWD: ALL"; done
  } >"$work/sudoers"
  visudo -c -q -f "$work/sudoers" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 || die "visudo rejects the rendered sudoers file; see $CDKTF_SLURM_LOG_FILE (this is a bug in the table or this script)"
  [[ -d "$(dirname "$sudoers")" ]] || ensure_dir "$(dirname "$sudoers")" root:root 0755
  install_if_changed "$work/sudoers" "$sudoers" root:root 0440
elif [[ -e "$sudoers" ]]; then
  rm -f "$sudoers"
  log "no user has sudo: removed $sudoers"
fi

if ((${#users_in_order[@]} > 0)); then printf '%s\n' "${users_in_order[@]}" | sort >"$work/managed"; else : >"$work/managed"; fi
[[ -d "$(dirname "$state")" ]] || ensure_dir "$(dirname "$state")" root:root 0755
INSTALL_QUIET=1 install_if_changed "$work/managed" "$state" root:root 0644

# nscd would answer with the old accounts for a while.
if ((changed_accounts)) && [[ -z "$prefix" ]] && command -v nscd >/dev/null 2>&1; then
  nscd -i passwd 2>/dev/null || true
  nscd -i group 2>/dev/null || true
fi
log "${#users_in_order[@]} user(s) and ${#groups_in_order[@]} group(s) from $table in place$( ((changed_accounts)) || echo ', accounts unchanged')"
