#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the test suite needs: validators (shellcheck, cloud-init, promtool from
# prometheus), the real Slurm daemons the cluster tests boot (munge, slurmctld, slurmd, slurmdbd, MariaDB),
# Prometheus and node_exporter for the live monitoring test, sudo (visudo) for the users test, python3-torch to
# run the job templates' DDP example for real (CPU, gloo), mdadm for the local-SSD RAID test, and iptables for the
# metadata guard.
# apt here never starts services (policy-rc.d); the tests start daemons themselves, by PID.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-debian.sh: run as root (sudo $0)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
packages=(
  shellcheck cloud-init
  munge slurmctld slurmd slurm-client slurmdbd slurmrestd slurm-wlm-jwt-plugin mariadb-server
  iproute2 util-linux procps iptables
  prometheus prometheus-node-exporter sudo python3-torch mdadm
)

for attempt in 1 2 3; do
  if apt-get update && apt-get install -y --no-install-recommends "${packages[@]}"; then
    exit 0
  fi
  echo "setup-debian.sh: apt attempt ${attempt} failed, retrying" >&2
  sleep $((attempt * 5))
done
echo "setup-debian.sh: could not install ${packages[*]}" >&2
exit 1
