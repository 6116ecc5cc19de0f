#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for the test suite and for trying profiles/slurm locally.
#
#   scripts/slurm-local.sh start [--gpu]   install (when apt is usable), configure and start munged,
#                                          slurmctld and slurmd; --gpu adds a fake GPU (gres gpu:1 on
#                                          /dev/null) to test the GPU request path
#   scripts/slurm-local.sh stop            stop exactly the daemons this script started (by their PIDs)
#   scripts/slurm-local.sh status          sinfo of the running cluster
#   scripts/slurm-local.sh env             the environment a client needs (eval "$(... env)")
#
# Everything lives under $SLURM_LOCAL_DIR (default /tmp/pipeline-slurm): slurm.conf, pid files, logs,
# state. Clients find the cluster through SLURM_CONF=$SLURM_LOCAL_DIR/slurm.conf; inside a job SLURM drops
# SLURM_CONF, so the job's own srun reads the default /etc/slurm/slurm.conf: start links it to ours when
# that path is free (and stop removes only a link it made); another cluster's config there means "cannot
# run here". Needs root (slurmd runs
# as root) and Debian's munge, slurmctld, slurmd and slurm-client (installed here when apt is usable).
# Exit status 2 means "cannot run here" (not root, no apt, packages missing): callers skip, not fail.
set -euo pipefail

DIR="${SLURM_LOCAL_DIR:-/tmp/pipeline-slurm}"
HERE="$(cd "$(dirname "$0")" && pwd)"
PACKAGES=(munge slurmctld slurmd slurm-client)
HOST="$(hostname -s)"

say() { echo "slurm-local: $*" >&2; }

install_packages() {
  local missing=()
  for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    say "apt-get not found; cannot install ${missing[*]}"; exit 2
  fi
  say "installing ${missing[*]}"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >/dev/null 2>&1; then
    say "apt-get failed for ${missing[*]}"; exit 2
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

write_config() {
  local gpu="$1" cpus memory
  cpus="$(nproc)"
  memory="$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -1)"
  memory="${memory:-2000}"
  mkdir -p "$DIR/state" "$DIR/spool" "$DIR/jobs"
  local grestypes="" gres=""
  if [ "$gpu" = 1 ]; then
    grestypes="GresTypes=gpu"
    gres="Gres=gpu:1"
    echo "NodeName=$HOST Name=gpu File=/dev/null" > "$DIR/gres.conf"
  else
    rm -f "$DIR/gres.conf"
  fi
  sed -e "s|@HOST@|$HOST|g" -e "s|@DIR@|$DIR|g" -e "s|@CPUS@|$cpus|g" -e "s|@MEMORY@|$memory|g" \
      -e "s|@PORT@|$(free_port)|g" -e "s|@DPORT@|$(free_port)|g" \
      -e "s|@GRESTYPES@|$grestypes|g" -e "s|@GRES@|$gres|g" \
      "$HERE/slurm-local/slurm.conf.in" > "$DIR/slurm.conf"
}

start_munge() {
  if [ -f "$DIR/munged.pid" ] && kill -0 "$(cat "$DIR/munged.pid")" 2>/dev/null; then return 0; fi
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  [ -f /etc/munge/munge.key ] || { mungekey --create >/dev/null 2>&1 || /usr/sbin/create-munge-key -f >/dev/null; }
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
  # munged runs as the munge user and writes its pid file where that user may (/run/munge).
  local pidfile=/run/munge/pipeline-munged.pid
  rm -f "$pidfile"
  su -s /bin/sh munge -c "munged --force --pid-file=$pidfile"
  for _ in $(seq 50); do [ -s "$pidfile" ] && break; sleep 0.1; done
  [ -s "$pidfile" ] || { say "munged did not start (see /var/log/munge/munged.log)"; return 1; }
  cp "$pidfile" "$DIR/munged.pid"
}

wait_idle() {
  for _ in $(seq 120); do
    if SLURM_CONF="$DIR/slurm.conf" sinfo -h -o "%t" 2>/dev/null | grep -qE "^(idle|mix)"; then return 0; fi
    sleep 0.5
  done
  say "the node did not become idle; logs: $DIR/slurmctld.log $DIR/slurmd.log"
  SLURM_CONF="$DIR/slurm.conf" sinfo >&2 || true
  return 1
}

start() {
  local gpu=0
  [ "${1:-}" = "--gpu" ] && gpu=1
  if [ "$(id -u)" -ne 0 ]; then say "needs root (slurmd runs as root)"; exit 2; fi
  if [ -f "$DIR/slurmctld.pid" ] && kill -0 "$(cat "$DIR/slurmctld.pid")" 2>/dev/null; then
    say "already running (stop it first: $0 stop)"; exit 1
  fi
  install_packages
  write_config "$gpu"
  link_etc
  start_munge
  export SLURM_CONF="$DIR/slurm.conf"
  slurmctld -f "$SLURM_CONF" -i
  slurmd -f "$SLURM_CONF"
  wait_idle
  say "running: $(sinfo -h -o '%P %D %t %c CPUs %m MB %G')  (SLURM_CONF=$SLURM_CONF)"
}

link_etc() {
  mkdir -p /etc/slurm
  for name in slurm.conf gres.conf; do
    local etc="/etc/slurm/$name"
    if [ -L "$etc" ] && [ "$(readlink "$etc")" = "$DIR/$name" ]; then continue; fi
    if [ -e "$etc" ] || [ -L "$etc" ]; then
      say "$etc belongs to another SLURM installation; not touching it"; exit 2
    fi
    [ -e "$DIR/$name" ] || continue
    ln -s "$DIR/$name" "$etc"
    echo "$etc" >> "$DIR/etc-links"
  done
}

unlink_etc() {
  [ -f "$DIR/etc-links" ] || return 0
  while read -r etc; do
    [ -L "$etc" ] && rm -f "$etc"
  done < "$DIR/etc-links"
  rm -f "$DIR/etc-links"
}

stop() {
  for name in slurmd slurmctld munged; do
    local file="$DIR/$name.pid"
    [ -f "$file" ] || continue
    local pid
    pid="$(cat "$file")"
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$file"
  done
  unlink_etc
  say "stopped"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  status) SLURM_CONF="$DIR/slurm.conf" sinfo ;;
  env) echo "export SLURM_CONF=$DIR/slurm.conf" ;;
  *) echo "usage: $0 start [--gpu] | stop | status | env" >&2; exit 64 ;;
esac
