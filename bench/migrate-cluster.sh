#!/usr/bin/env bash
# Live migration end to end, side by side in one run (TCG, loopback, downtime limit 300 ms, no bandwidth cap):
#   plain  : two QEMUs by hand, the disk a raw file served by qemu-nbd (shared by both), QMP over TCP driven from
#            this script: qmp_capabilities, migrate-set-capabilities {events}, migrate-set-parameters,
#            migrate-incoming on the destination, migrate on the source, poll query-migrate until completed.
#   fabric : `fabric vm migrate VM --to NODE` in a real 3-node cluster: the VM's disk a 3-replica volume on
#            vhost-user-blk, a VXLAN NIC, pre-checks, PrepareIncoming, pause-before-switchover, the one map
#            transaction (locks, VM, ports), SwitchoverIncoming, migrate-continue.
# Same guest (tiny image), same memory, same workload in both: idle, then filling DIRTY MiB of memory and
# rewriting it in a loop. Totals and downtimes are QEMU's own (query-migrate on the source).
# Usage: bench/migrate-cluster.sh [--runs N] [--dirty-mib N]   (run by bench/migrate-compare.sh --cluster)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS=3; DIRTY=400
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --dirty-mib) DIRTY="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
MEM_IDLE=256
MEM_DIRTY=$((DIRTY + 240))

dotnet build "$ROOT/cluster/Fabric.Cli" -c Release -nologo -v q -clp:ErrorsOnly >/dev/null
WORK="$(mktemp -d /tmp/migcmp.XXXXXX)"
export FABRIC_ROOT="$ROOT"
FABRIC="dotnet $ROOT/artifacts/bin/Fabric.Cli/release/fabric.dll --home $WORK/home"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && kill -9 "$p" 2>/dev/null || true; done
  if [[ -n "${KEEP_WORK:-}" ]]; then $FABRIC down >/dev/null 2>&1 || true; else $FABRIC down --purge >/dev/null 2>&1 || true; fi
  if [[ -n "${KEEP_WORK:-}" ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
bash "$ROOT/node/Fabric.Hypervisor/Guest/build-image.sh" "$ROOT/artifacts/guest" >/dev/null
IMG="$ROOT/artifacts/guest"

workload() { # $1 = MiB to keep dirty (0 = idle)
  if [[ "$1" == 0 ]]; then echo "echo BENCH-READY; sleep 100000"; return; fi
  cat <<EOF
mount -o remount,size=95% /tmp
dd if=/dev/urandom of=/tmp/chunk bs=1M count=1 2>/dev/null
j=0; while [ \$j -lt $1 ]; do dd if=/tmp/chunk of=/tmp/x bs=1M seek=\$j count=1 conv=notrunc 2>/dev/null; j=\$((j+1)); done
echo BENCH-READY
while true; do j=0; while [ \$j -lt $1 ]; do dd if=/tmp/chunk of=/tmp/x bs=1M seek=\$j count=1 conv=notrunc 2>/dev/null; j=\$((j+1)); done; done
EOF
}

wait_for() { # file text seconds
  for _ in $(seq $(($3 * 20))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "timed out waiting for '$2' in $1" >&2; return 1
}

# ---- QMP over TCP from bash ----
qmp_open() { # fd port
  for _ in $(seq 200); do
    if eval "exec $1<>/dev/tcp/127.0.0.1/$2" 2>/dev/null; then break; fi
    sleep 0.05
  done
  local line; read -r -u "$1" line   # greeting
  qmp "$1" '{"execute":"qmp_capabilities"}' >/dev/null
}
qmp() { # fd json -> the reply line (events go to $QMP_EVENTS.FD when set)
  printf '%s\n' "$2" >&"$1"
  local line
  while read -r -u "$1" line; do
    case "$line" in
      *'"return"'*|*'"error"'*) echo "$line"; return 0 ;;
      *'"event"'*) [[ -n "${QMP_EVENTS:-}" ]] && printf '%s\n' "$line" >> "$QMP_EVENTS.$1" ;;
    esac
  done
  return 1
}
event_ms() { # file event -> QEMU's timestamp of the first such event, in ms
  python3 - "$1" "$2" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") == sys.argv[2]:
        t = e["timestamp"]; print("%.1f" % (t["seconds"] * 1000 + t["microseconds"] / 1000)); break
PY
}
json_num() { grep -o "\"$2\": *[0-9]*" <<<"$1" | head -1 | grep -o '[0-9]*$' || true; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }

plain_once() { # mem dirty run -> "total downtime"
  local mem=$1 dirty=$2 dir="$WORK/plain-$1-$3"
  mkdir -p "$dir"
  truncate -s 32M "$dir/disk.raw"
  qemu-nbd -f raw -k "$dir/nbd.sock" --shared=4 --persistent -x disk "$dir/disk.raw" >/dev/null 2>&1 &
  local nbd=$!; PIDS+=($nbd)
  for _ in $(seq 100); do [[ -S "$dir/nbd.sock" ]] && break; sleep 0.05; done
  local w64; w64=$(workload "$dirty" | base64 -w0)
  local ps pd pm; ps=$(free_port); pd=$(free_port); pm=$(free_port)
  local common=(-accel tcg -machine pc -m "$mem" -smp 1 -nodefaults -display none -no-reboot -kernel "$IMG/vmlinuz" -initrd "$IMG/initrd.img"
    -append "console=ttyS0 quiet no_timer_check fabric.hostname=plain fabric.disks=1 fabric.workload64=$w64"
    -blockdev "driver=nbd,node-name=d0,server.type=unix,server.path=$dir/nbd.sock,export=disk,cache.direct=on" -device virtio-blk-pci,drive=d0)
  qemu-system-x86_64 "${common[@]}" -serial "file:$dir/src.console" -qmp "tcp:127.0.0.1:$ps,server=on,wait=off" >"$dir/src.log" 2>&1 &
  local src=$!; PIDS+=($src)
  qemu-system-x86_64 "${common[@]}" -serial "file:$dir/dst.console" -qmp "tcp:127.0.0.1:$pd,server=on,wait=off" -incoming defer >"$dir/dst.log" 2>&1 &
  local dst=$!; PIDS+=($dst)
  wait_for "$dir/src.console" BENCH-READY 600
  QMP_EVENTS="$dir/events"
  qmp_open 7 "$ps"; qmp_open 8 "$pd"
  qmp 8 '{"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"events","state":true}]}}' >/dev/null
  qmp 7 '{"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"events","state":true}]}}' >/dev/null
  qmp 7 '{"execute":"migrate-set-parameters","arguments":{"downtime-limit":300,"max-bandwidth":107374182400}}' >/dev/null
  qmp 8 "{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"tcp:127.0.0.1:$pm\"}}" >/dev/null
  qmp 7 "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"tcp:127.0.0.1:$pm\"}}" >/dev/null
  local r
  while true; do
    r=$(qmp 7 '{"execute":"query-migrate"}')
    case "$r" in *'"completed"'*) ;; *'"failed"'*|*'"cancelled"'*) echo "plain migration: $r" >&2; return 1 ;; *) sleep 0.02; continue ;; esac
    [[ -n "$(json_num "$r" downtime)" && "$(json_num "$r" total-time)" != 0 ]] && break
    sleep 0.02
  done
  # The guest's whole pause: STOP on the source to RESUME on the destination (QEMU's timestamps, one clock).
  for _ in $(seq 400); do
    case "$(qmp 8 '{"execute":"query-status"}')" in *'"running": true'*|*'"running":true'*) break ;; esac
    sleep 0.01
  done
  local pause
  pause=$(awk -v a="$(event_ms "$dir/events.7" STOP)" -v b="$(event_ms "$dir/events.8" RESUME)" 'BEGIN{printf "%.0f", b-a}')
  QMP_EVENTS=""
  echo "$(json_num "$r" total-time) $(json_num "$r" downtime) $pause $(( $(json_num "$r" transferred) >> 20 )) $(json_num "$r" dirty-sync-count)" > "$dir/result"
  exec 7>&- 8>&-
  kill -9 "$src" "$dst" "$nbd" 2>/dev/null || true
  wait "$src" "$dst" "$nbd" 2>/dev/null || true
}

# ---- the cluster ----
NET=""
for n in $(seq 200 250); do
  if ! ss -ltn 2>/dev/null | grep -q " 127\.0\.$n\.[123]:7000 "; then NET="127.0.$n"; break; fi
done
{
  printf '[cluster]\nname = "migbench"\nmonitors = ["n1"]\n'
  for i in 1 2 3; do
    printf '\n[[node]]\nname = "n%s"\ngrpc = "%s.%s:7000"\ndata = "%s.%s"\nfailure_domain = "rack1/n%s"\ncapacity = "8GiB"\nvm_memory = "4GiB"\nvm_cpus = 2\n' "$i" "$NET" "$i" "$NET" "$i" "$i"
  done
  printf '\n[[pool]]\nname = "rbd"\nreplicas = 3\nmin_replicas = 2\npg_count = 32\n'
  printf '\n[[volume]]\nname = "idle"\npool = "rbd"\nsize = "32MiB"\n'
  printf '\n[[volume]]\nname = "dirty"\npool = "rbd"\nsize = "32MiB"\n'
  printf '\n[[network]]\nname = "overlay"\nkind = "vxlan"\nvni = 5001\nsubnet = "10.10.0.0/24"\nmtu = 1450\n'
} > "$WORK/cluster.toml"
mkdir -p "$WORK/home/images"
ln -sfn "$IMG" "$WORK/home/images/tiny"
$FABRIC up "$WORK/cluster.toml" > "$WORK/up.log" 2>&1 || { cat "$WORK/up.log"; exit 1; }

fabric_runs() { # vm mem dirty -> lines "total downtime switchover"
  local vm=$1 mem=$2 dirty=$3   # $4: last byte of its address
  $FABRIC vm create "$vm" --memory "${mem}MiB" --accel tcg --cmdline no_timer_check --disk "$vm" --node n1 --nic "net=overlay,ip=10.10.0.$4/24" \
    --workload "$(workload "$dirty")" --timeout 300 > /dev/null
  wait_for "$WORK/home/run/n1/vms/$vm/console.log" BENCH-READY 600
  local at=n1 to
  for r in $(seq 1 "$RUNS"); do
    to=$([[ $at == n1 ]] && echo n2 || echo n1)
    local j; j=$($FABRIC vm migrate "$vm" --to "$to" --json | tr -d ' \n') || { echo "fabric migration of $vm failed: $j" >&2; return 1; }
    [[ "$j" == *'"outcome":"completed"'* ]] || { echo "fabric migration failed: $j" >&2; return 1; }
    # Wait for the destination's "resumed at" before the next move (its log line follows the guest's resume).
    for _ in $(seq 200); do [[ $(grep -h "incoming migration" "$WORK"/home/log/node-*.log | grep -c "VM $vm:.*resumed at") -ge $r ]] && break; sleep 0.05; done
    echo "$(json_num "$j" total_time_ms) $(json_num "$j" downtime_ms) $(json_num "$j" switchover_ms) $(json_num "$j" stop_ms) $(json_num "$j" final_pass_ms) $(json_num "$j" resume_wait_ms) $(guest_pause "$vm" "$r") $(( $(json_num "$j" transferred_bytes) >> 20 )) $(json_num "$j" passes)"
    at=$to
  done
  $FABRIC vm stop "$vm" > /dev/null
}

guest_pause() { # vm n -> ms from the n-th "stopped here at" (source) to the n-th "resumed at" (destination)
  python3 - "$WORK" "$1" "$2" <<'PY'
import glob, json, re, sys
work, vm, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
stops, resumes = [], []
for f in glob.glob(work + "/home/log/node-*.log"):
    for line in open(f, errors="ignore"):
        try: m = json.loads(line).get("Message", "")
        except ValueError: continue
        a = re.search(r"vm %s: migrated to .*stopped here at (\d+)" % re.escape(vm), m)
        if a: stops.append(int(a.group(1)))
        b = re.search(r"VM %s: incoming migration .*resumed at (\d+)" % re.escape(vm), m)
        if b: resumes.append(int(b.group(1)))
stops.sort(); resumes.sort()
print(resumes[n - 1] - stops[n - 1] if len(stops) >= n and len(resumes) >= n else "?")
PY
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }

echo "== machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(qemu-system-x86_64 --version | head -1)"
ROWS=()
for mode in ${MODES:-idle dirty}; do
  if [[ $mode == idle ]]; then mem=$MEM_IDLE; dirty=0; else mem=$MEM_DIRTY; dirty=$DIRTY; fi
  PT=(); PD=(); PP=(); FT=(); FD=(); FS=(); FP=()
  for r in $(seq 1 "$RUNS"); do
    plain_once "$mem" "$dirty" "$r"
    read -r t d p mib passes < "$WORK/plain-$mem-$r/result"
    PT+=("$t"); PD+=("$d"); PP+=("$p")
    echo "$mode run $r: plain total $t ms, downtime $d ms, guest paused $p ms (STOP to RESUME), $mib MiB in $passes passes"
  done
  while read -r t d s st fp rw p mib passes; do
    FT+=("$t"); FD+=("$d"); FS+=("$s"); FP+=("$p")
    echo "$mode: fabric vm migrate total $t ms, downtime $d ms (stop $st ms, switch-over step $s ms, final pass $fp ms, resume waited $rw ms), guest paused $p ms (STOP to RESUME), $mib MiB in $passes passes"
  done < <(fabric_runs "$mode" "$mem" "$dirty" "$([[ $mode == idle ]] && echo 21 || echo 22)")
  pt=$(median "${PT[@]}"); pd=$(median "${PD[@]}"); ft=$(median "${FT[@]}"); fd=$(median "${FD[@]}"); fs=$(median "${FS[@]}")
  pp=$(median "${PP[@]}"); fp=$(median "${FP[@]}")
  label=$([[ $mode == idle ]] && echo "idle, ${mem} MiB" || echo "rewriting ${dirty} MiB of a ${mem} MiB guest")
  ROWS+=("| $label | $pt / $pd / $pp | $ft / $fd / $fp | $fs | $(awk -v a="$ft" -v b="$pt" 'BEGIN{printf "%.2f", a/b}') | $((fd - pd)) | $((fp - pp)) |")
done
# ---- first packet after resume (fabric only: the plain guests have no network) ----
# Guest A (n1) pings guest B (n3) every 10 ms over the VXLAN overlay; A migrates RUNS times between n1 and n2.
# tshark on lo sees every VXLAN frame; the first echo request from A after the destination QEMU's RESUME
# event (its timestamp, logged by the destination node) is the first packet the migrated guest delivered.
net_runs() {
  $FABRIC vm create peer --memory 256MiB --accel tcg --cmdline no_timer_check --node n3 --nic "net=overlay,ip=10.10.0.32/24" \
    --workload "ping -i 0.01 10.10.0.31 > /tmp/ping.out 2>&1 & echo BENCH-READY; sleep 100000" --timeout 300 > /dev/null
  wait_for "$WORK/home/run/n3/vms/peer/console.log" BENCH-READY 600
  $FABRIC vm create pinger --memory 256MiB --accel tcg --cmdline no_timer_check --node n1 --nic "net=overlay,ip=10.10.0.31/24" \
    --workload "ping -i 0.01 10.10.0.32 > /tmp/ping.out 2>&1 & echo BENCH-READY; sleep 100000" --timeout 300 > /dev/null
  wait_for "$WORK/home/run/n1/vms/pinger/console.log" BENCH-READY 600
  tshark -i lo -n -l -f "udp port 4789" -T fields -E separator=/t -e frame.time_epoch -e ip.src -e ip.dst -e icmp.type > "$WORK/net.cap" 2>/dev/null &
  local cap=$!; PIDS+=($cap)
  sleep 2   # tshark has no "capturing" signal on stdout; its first frames show it runs
  wait_for "$WORK/net.cap" "10.10.0.31" 20
  local at=n1 to dests=""
  for r in $(seq 1 "$RUNS"); do
    to=$([[ $at == n1 ]] && echo n2 || echo n1)
    local j; j=$($FABRIC vm migrate pinger --to "$to" --json | tr -d ' \n') || { echo "fabric migration of pinger failed: $j" >&2; return 1; }
    [[ "$j" == *'"outcome":"completed"'* ]] || { echo "fabric migration failed: $j" >&2; return 1; }
    dests+="$NET.${to#n} "
    sleep 1
    at=$to
  done
  kill -INT "$cap" 2>/dev/null || true; wait "$cap" 2>/dev/null || true
  $FABRIC vm stop pinger > /dev/null; $FABRIC vm stop peer > /dev/null
  python3 - "$WORK" $dests <<'PY'
import json, re, sys, glob
work, dests = sys.argv[1], sys.argv[2:]
resumes = []
for f in glob.glob(work + "/home/log/node-*.log"):
    for line in open(f, errors="ignore"):
        try: m = json.loads(line).get("Message", "")
        except ValueError: continue
        a = re.search(r"VM pinger: incoming migration .*resumed at (\d+)", m)
        if a: resumes.append(int(a.group(1)) / 1000.0)
frames = []   # (time, outer src, outer dst, inner src, inner dst, icmp types)
for line in open(work + "/net.cap", errors="ignore"):
    p = line.rstrip("\n").split("\t")
    if len(p) < 4: continue
    src, dst = p[1].split(","), p[2].split(",")
    if len(src) < 2 or len(dst) < 2: continue
    frames.append((float(p[0]), src[0], dst[0], src[-1], dst[-1], p[3].split(",")))
def first(t, ok):
    after = [f[0] for f in frames if f[0] >= t and ok(f)]
    return ("%.0f ms" % ((after[0] - t) * 1000)) if after else "none"
for t, node in zip(sorted(resumes), dests):
    # Into the guest: the peer's echo request arriving at the VXLAN port of the guest's new node.
    into = first(t, lambda f: f[2] == node and f[4] == "10.10.0.31" and "8" in f[5])
    # From the guest: its own first echo request, sent from its new node.
    out = first(t, lambda f: f[1] == node and f[3] == "10.10.0.31" and "8" in f[5])
    print("after resume: first packet delivered to the guest's new node %s; the guest's own first echo request %s" % (into, out))
PY
}
echo
echo "== first packet from a migrated guest after its resume (ping every 10 ms over VXLAN)"
net_runs

echo
echo "medians of $RUNS runs each (\`bench/migrate-compare.sh --cluster --runs $RUNS\`):"
echo
echo "| guest | plain QEMU + qemu-nbd total / downtime / guest pause (ms) | fabric vm migrate total / downtime / guest pause (ms) | switch-over step (ms) | total ratio fabric/plain | downtime fabric - plain (ms) | guest pause fabric - plain (ms) |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
