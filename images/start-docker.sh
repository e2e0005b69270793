#!/usr/bin/env bash
# Install and start a Docker daemon where none answers (Debian's docker.io, and mmdebstrap for images/build.py's
# Debian base), configured as these machines need: no bridge network and no iptables rules, so containers use the
# host's network (or none). Does nothing when `docker info` already answers. Run as root or with sudo.
set -euo pipefail
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
if $sudo docker info >/dev/null 2>&1; then
  [ -z "$sudo" ] || docker info >/dev/null 2>&1 || echo "docker: the daemon runs; to use it without sudo, join the docker group" >&2
  exit 0
fi
if ! command -v dockerd >/dev/null || ! command -v mmdebstrap >/dev/null; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq docker.io mmdebstrap \
    >/dev/null
fi
$sudo mkdir -p /etc/docker
if [ ! -f /etc/docker/daemon.json ]; then
  echo '{"bridge": "none", "iptables": false, "ip6tables": false}' | $sudo tee /etc/docker/daemon.json >/dev/null
fi
# A machine restarted from a disk where a daemon once ran keeps its pid files (/run is not always a tmpfs): dockerd
# refuses to start when the pid they name belongs to some new process, and waits for a containerd that is not there.
if ! pgrep -x dockerd >/dev/null; then
  $sudo rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
fi
log="${TMPDIR:-/tmp}/dockerd.log"
$sudo sh -c "nohup dockerd >'$log' 2>&1 &"
for _ in $(seq 1 120); do
  if $sudo docker info >/dev/null 2>&1; then
    echo "docker: daemon started (log: $log)"
    exit 0
  fi
  pgrep -x dockerd >/dev/null || break
  sleep 1
done
echo "docker: the daemon did not start; the end of $log:" >&2
tail -n 15 "$log" >&2
reason=$(grep -iE 'level=(error|fatal)|failed|unable' "$log" | tail -n 1 || true)
echo "docker: the daemon did not start: ${reason:-$(tail -n 1 "$log")}" >&2
exit 1
