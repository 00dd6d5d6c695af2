#!/usr/bin/env bash
# engine.sh start|stop|status|env|purge — the test suite's own, private dockerd.
#
# CI machines have Debian's docker.io installed but no engine running, and no image registry
# reachable. This starts dockerd with its own data root, exec root and socket under
# $PILOTHOUSE_DOCKER_DIR (default /var/tmp/pilothouse-docker, kept between runs so a warm run
# reuses the image and build cache), never touching a system engine's state. dockerd still
# changes the host's network (iptables DOCKER* chains and rules, FORWARD policy DROP when it
# has to turn on ip_forward, the docker0 bridge): `start` snapshots those, `stop` restores them.
#
#   eval "$(tests/docker/engine.sh start)"   # prints: export DOCKER_HOST=unix://…/docker.sock
#   tests/docker/engine.sh stop              # keeps images and build cache (warm runs)
#   tests/docker/engine.sh purge             # stop, then delete everything but the base tarball
#
# Needs root (dockerd, iptables). Adapted from the recipe in tools/docker/ (tested on Debian 12).
set -euo pipefail

D=${PILOTHOUSE_DOCKER_DIR:-/var/tmp/pilothouse-docker}
SOCK=$D/docker.sock
DRIVER=${PILOTHOUSE_DOCKER_STORAGE:-auto}   # overlay2 | vfs | auto (overlay2 when an overlay mounts in $D)
# Debian's 20.10 client: a newer /usr/local/bin/docker may shadow it, and that one cannot use
# BuildKit without the buildx plug-in.
DOCKER=${DOCKER_CLI:-/usr/bin/docker}
export DOCKER_HOST=unix://$SOCK

log() { echo "engine.sh: $*" >&2; }

alive() { [ -f "$D/dockerd.pid" ] && kill -0 "$(cat "$D/dockerd.pid")" 2>/dev/null; }

snapshot_host() {
  # Once per engine lifetime: after a crashed run, the clean snapshot must survive the restart.
  [ -f "$D/host/iptables.save" ] && return 0
  mkdir -p "$D/host"
  iptables-save > "$D/host/iptables.save"
  iptables -S FORWARD | awk '$1=="-P"{print $3}' > "$D/host/forward_policy"
  if ip link show docker0 >/dev/null 2>&1; then echo yes; else echo no; fi > "$D/host/docker0"
  sysctl -n net.ipv4.ip_forward > "$D/host/ip_forward"
  if [ -d /sys/fs/cgroup/pids/docker ]; then echo yes; else echo no; fi > "$D/host/cgroup_docker"
}

storage_driver() {
  [ "$DRIVER" = auto ] || { echo "$DRIVER"; return; }
  # overlay2 is ~5x smaller on disk and copies nothing per container; some filesystems
  # (overlay on overlay, some network file systems) cannot host it: fall back to vfs.
  local t="$D/.ovl-probe"
  rm -rf "$t"; mkdir -p "$t"/l "$t"/u "$t"/w "$t"/m
  if mount -t overlay overlay -o "lowerdir=$t/l,upperdir=$t/u,workdir=$t/w" "$t/m" 2>/dev/null; then
    umount "$t/m"; echo overlay2
  else
    echo vfs
  fi
  rm -rf "$t"
}

start() {
  mkdir -p "$D/data" "$D/exec"
  if alive && "$DOCKER" version >/dev/null 2>&1; then
    log "already running (pid $(cat "$D/dockerd.pid"))"; echo "export DOCKER_HOST=$DOCKER_HOST"; return 0
  fi
  # A docker0 we did not make means another engine runs here: its bridge and rules would be
  # "restored" away by our stop.
  if [ ! -f "$D/host/iptables.save" ] && ip link show docker0 >/dev/null 2>&1; then
    log "docker0 already exists (another docker daemon?) - refusing"; exit 1
  fi
  snapshot_host
  local driver dev mtu i
  driver=$(storage_driver)
  # Containers get the MTU of the default route's interface (1400 on some CI VMs; 1500 is
  # Docker's default and drops large packets there).
  dev=$(ip -4 route show default | awk '{for(i=1;i<NF;i++) if($i=="dev"){print $(i+1); exit}}')
  mtu=${PILOTHOUSE_DOCKER_MTU:-$(cat "/sys/class/net/$dev/mtu" 2>/dev/null || echo 1500)}
  echo '{}' > "$D/daemon.json"          # ignore a host /etc/docker/daemon.json
  rm -f "$SOCK"
  setsid dockerd \
      --config-file "$D/daemon.json" \
      --storage-driver="$driver" \
      --data-root "$D/data" \
      --exec-root "$D/exec" \
      --pidfile "$D/dockerd.pid" \
      -H "unix://$SOCK" \
      --mtu "$mtu" \
      >"$D/dockerd.log" 2>&1 </dev/null &
  for i in $(seq 1 120); do
    if "$DOCKER" version >/dev/null 2>&1; then
      log "dockerd up (pid $(cat "$D/dockerd.pid"), driver $driver, mtu $mtu) after $((i / 2))s"
      echo "export DOCKER_HOST=$DOCKER_HOST"; return 0
    fi
    sleep 0.5
  done
  log "dockerd did not come up; tail of $D/dockerd.log:"; tail -20 "$D/dockerd.log" >&2
  stop; exit 1
}

# PIDs of engine processes (dockerd, containerd, shims, docker-proxy, runc) whose command
# line names $D: the ones this engine started, never a system engine's.
our_pids() {
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    case "$(cat "/proc/$p/comm" 2>/dev/null)" in
      dockerd|containerd|containerd-shim*|docker-proxy|runc) ;;
      *) continue ;;
    esac
    tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$D/" && echo "$p"
  done
  return 0
}

restore_net() {
  [ -f "$D/host/iptables.save" ] || { log "no host snapshot, skipping network restore"; return 0; }
  local t line c subnet
  subnet=$(ip -4 -o addr show docker0 2>/dev/null | awk '{print $4}' | head -1) || true
  [ -n "$subnet" ] || subnet=172.17.0.1/16
  subnet=$(echo "$subnet" | cut -d. -f1,2).     # e.g. "172.17." (the default /16 bridge)
  for t in filter nat; do
    # 1. rules docker added to built-in chains (not in the snapshot, and docker-ish)
    iptables -t "$t" -S | grep -E '^-A (INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) ' \
      | grep -E "DOCKER|docker0|${subnet//./\\.}" | while read -r line; do
          grep -qxF -- "$line" <(sed -n "/^\*$t/,/^COMMIT/p" "$D/host/iptables.save" | sed 's/^\[[0-9:]*\] //') && continue
          read -ra args <<< "${line#-A }"
          iptables -t "$t" -D "${args[@]}" || log "could not delete: $line"
        done || true
    # 2. DOCKER* chains that did not exist before: flush all first (they jump to each other)
    for c in $(iptables -t "$t" -S | awk '$1=="-N" && $2 ~ /^DOCKER/ {print $2}'); do
      grep -qx -- ":$c .*" <(sed -n "/^\*$t/,/^COMMIT/p" "$D/host/iptables.save") || iptables -t "$t" -F "$c"
    done
    for c in $(iptables -t "$t" -S | awk '$1=="-N" && $2 ~ /^DOCKER/ {print $2}'); do
      grep -qx -- ":$c .*" <(sed -n "/^\*$t/,/^COMMIT/p" "$D/host/iptables.save") || iptables -t "$t" -X "$c"
    done
  done
  iptables -P FORWARD "$(cat "$D/host/forward_policy")"
  if [ "$(cat "$D/host/docker0")" = no ] && ip link show docker0 >/dev/null 2>&1; then
    ip link delete docker0
  fi
  sysctl -qw net.ipv4.ip_forward="$(cat "$D/host/ip_forward")"
  # dockerd (cgroupfs driver) creates /sys/fs/cgroup/<controller>/docker[/buildkit]
  if [ "$(cat "$D/host/cgroup_docker" 2>/dev/null)" = no ]; then
    rmdir /sys/fs/cgroup/*/docker/buildkit /sys/fs/cgroup/*/docker 2>/dev/null || true
  fi
  # say what still differs from the snapshot (packet counters stripped)
  if ! diff <(grep -v '^#' "$D/host/iptables.save" | sed 's/\[[0-9]*:[0-9]*\]//') \
            <(iptables-save | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//') >&2; then
    log "WARNING: iptables differs from the pre-start snapshot (diff above)"
  fi
  rm -rf "$D/host"
}

stop() {
  local pid i
  if alive; then
    pid=$(cat "$D/dockerd.pid")
    kill -TERM "$pid"
    for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then log "dockerd $pid still alive, SIGKILL"; kill -KILL "$pid"; sleep 1; fi
  fi
  # After a hard death of dockerd its containers keep running (the shim survives, and killing
  # the shim orphans supervisord and its children): delete them through runc first.
  local rr="$D/exec/runtime-runc/moby" id
  if [ -d "$rr" ]; then
    for id in $(runc --root "$rr" list -q 2>/dev/null); do
      log "force-deleting leftover container $id"; runc --root "$rr" delete --force "$id" || true
    done
  fi
  # dockerd normally takes its containerd down with it; kill leftovers (ours only, by PID)
  for pid in $(our_pids); do log "killing leftover pid $pid"; kill -TERM "$pid" 2>/dev/null || true; done
  sleep 1
  for pid in $(our_pids); do kill -KILL "$pid" 2>/dev/null || true; done
  # leftover mounts (netns, shm, overlay) would block a later rm -rf
  awk -v d="$D/" 'index($2,d)==1{print $2}' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" || true
  done
  rm -f "$D/dockerd.pid" "$SOCK"
  restore_net
  log "stopped"
}

purge() {
  stop
  # the base tarball is slow to remake (debootstrap) and does not depend on the engine
  find "$D" -mindepth 1 -maxdepth 1 ! -name base-cache -exec rm -rf {} +
  log "purged $D (kept $D/base-cache)"
}

case "${1:-}" in
  start)  start ;;
  stop)   stop ;;
  purge)  purge ;;
  status) if alive; then echo "running pid $(cat "$D/dockerd.pid")"; else echo stopped; exit 1; fi ;;
  env)    echo "export DOCKER_HOST=$DOCKER_HOST" ;;
  *)      echo "usage: $0 start|stop|purge|status|env" >&2; exit 2 ;;
esac
