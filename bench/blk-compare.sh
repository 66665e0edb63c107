#!/usr/bin/env bash
# Side-by-side block I/O in one run, one client for all (qemu-img bench, host side, no emulated CPU):
#   ours      a 3-replica volume of a real 3-node Fabric cluster (fabric up on private loopback addresses),
#             served by node n2 through `fabric volume export-nbd` (NBD over its unix socket)
#   ours+c    the same on node n1, which runs with block_cache = "512MiB" (the FASTER cache; re-read rows)
#   ours+wb   the same on node n3, which runs with write_cache = "64MiB" (writes acknowledged from the node's
#             memory, durable at the next flush or within 1 s, like librbd's writeback cache)
#   qemu-nbd  qemu-nbd on a local raw file: the no-replication limit
#   ceph      QEMU's rbd driver on Ceph 16 (peers/ceph-up.sh: 1 mon, 3 OSDs, size 3), when it comes up
#   ceph+wb   the same with librbd's writeback cache on (qemu-img -t writeback sets rbd_cache=true; writeback
#             from the first write, rbd_cache_writethrough_until_flush=false; 64 MiB dirty, 32 MiB target as ours)
# plus guest-side QD1 (the tiny TCG guest, busybox dd O_DIRECT 4 KiB) through vhost-user-blk: a Fabric VM on a
# 3-replica volume vs qemu-storage-daemon's vhost-user-blk export of a local raw file.
# Usage: bench/blk-compare.sh [--no-ceph] [--no-guest] [--quick]
# Prints a markdown table of IOPS / MiB/s and ratios, and one of the CPU each row cost per op (servers: the
# three Fabric nodes, qemu-nbd, Ceph's daemons; client: qemu-img). Needs root for Ceph; installs missing
# Debian packages.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS="${FABRIC_PEERS:-$ROOT/../shared/peers}"
[[ -d "$PEERS" ]] || PEERS=/work/shared/peers
CEPH=1; GUEST=1; SCALE=1
for a in "$@"; do
  case "$a" in
    --no-ceph) CEPH=0 ;;
    --no-guest) GUEST=0 ;;
    --quick) SCALE=4 ;;
    *) echo "usage: $0 [--no-ceph] [--no-guest] [--quick]" >&2; exit 2 ;;
  esac
done

WORK="$(mktemp -d /tmp/blkcmp.XXXXXX)"
PIDS=()
CEPH_UP=0
FABRIC_UP=0
cleanup() {
  if [[ $FABRIC_UP == 1 ]]; then $FABRIC down --purge >/dev/null 2>&1 || true; fi
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ $CEPH_UP == 1 ]]; then bash "$PEERS/ceph-down.sh" "$WORK/ceph" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null 2>&1; }
# server_ticks, with_client_cpu, idle_ticks
source "$ROOT/bench/cpu-lib.sh"
if ! need qemu-img || ! need qemu-nbd || ! need qemu-storage-daemon || ! need qemu-system-x86_64; then
  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-utils qemu-system-x86 >/dev/null
fi

echo "blk-compare: building bench/Fabric.Bench, the node and the CLI ..." >&2
dotnet build "$ROOT/bench/Fabric.Bench/Fabric.Bench.csproj" -c Release -nologo -v q -clp:ErrorsOnly >&2
dotnet build "$ROOT/node/Fabric.Node/Fabric.Node.csproj" -c Release -nologo -v q -clp:ErrorsOnly >&2
dotnet build "$ROOT/cluster/Fabric.Cli/Fabric.Cli.csproj" -c Release -nologo -v q -clp:ErrorsOnly >&2
BENCH="$ROOT/artifacts/bin/Fabric.Bench/release/Fabric.Bench.dll"
export FABRIC_ROOT="$ROOT"
FABRIC="dotnet $ROOT/artifacts/bin/Fabric.Cli/release/fabric.dll --home $WORK/fabric"

wait_for() { # wait_for FILE PATTERN SECONDS
  for _ in $(seq $(( $3 * 10 ))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "blk-compare: timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}
wait_sock() { for _ in $(seq 100); do [[ -S "$1" ]] && return 0; sleep 0.1; done; echo "no socket $1" >&2; return 1; }

SIZE_MIB=1024
# ---- targets --------------------------------------------------------------------------------------
# A Fabric cluster of its own: three nodes on the first free 127.0.N.1-3 (N from 200 up).
NET=""
for n in $(seq 200 250); do
  if ! ss -ltn 2>/dev/null | grep -q " 127\.0\.$n\.[123]:7000 "; then NET="127.0.$n"; break; fi
done
[[ -n "$NET" ]] || { echo "blk-compare: no free 127.0.N.x addresses for the cluster" >&2; exit 1; }
mkdir -p "$WORK/fabric"
{
  printf '[cluster]\nname = "blkbench"\nmonitors = ["n1"]\n'
  for i in 1 2 3; do
    printf '\n[[node]]\nname = "n%s"\ngrpc = "%s.%s:7000"\ndata = "%s.%s"\nfailure_domain = "rack1/n%s"\ncapacity = "16GiB"\nvm_memory = "1GiB"\nvm_cpus = 2\n' \
      "$i" "$NET" "$i" "$NET" "$i" "$i"
    [[ $i == 1 ]] && printf 'block_cache = "512MiB"\n'
    [[ $i == 3 ]] && printf 'write_cache = "64MiB"\n'
  done
  printf '\n[[pool]]\nname = "rbd"\nreplicas = 3\nmin_replicas = 2\npg_count = 64\n'
  for v in bench benchc benchw; do printf '\n[[volume]]\nname = "%s"\npool = "rbd"\nsize = "%sMiB"\n' "$v" "$SIZE_MIB"; done
  printf '\n[[volume]]\nname = "gdisk"\npool = "rbd"\nsize = "256MiB"\n'
  printf '\n[[volume]]\nname = "gdiskw"\npool = "rbd"\nsize = "256MiB"\n'
} > "$WORK/cluster.toml"
echo "blk-compare: fabric up (3 nodes on $NET.1-3) ..." >&2
FABRIC_UP=1
$FABRIC up "$WORK/cluster.toml" > "$WORK/fabric-up.log" 2>&1 || { cat "$WORK/fabric-up.log" >&2; exit 1; }
OURS_URI="$($FABRIC volume export-nbd bench --node n2 2>/dev/null)"
OURSC_URI="$($FABRIC volume export-nbd benchc --node n1 2>/dev/null)"
OURSW_URI="$($FABRIC volume export-nbd benchw --node n3 2>/dev/null)"
qemu-img create -q -f raw "$WORK/local.raw" ${SIZE_MIB}M
qemu-nbd -t -f raw -x bench -k "$WORK/qnbd.sock" -e 8 --cache=writeback "$WORK/local.raw" > "$WORK/qnbd.log" 2>&1 &
PIDS+=($!)
wait_sock "$WORK/qnbd.sock"
# The processes whose CPU a column's ops cost (besides qemu-img): every node of the cluster for ours (the
# export's node and the replicas), qemu-nbd for the local file, Ceph's daemons for rbd.
declare -A SERVERS
NODE_PIDS=""
for i in 1 2 3; do NODE_PIDS+=" $(cut -d' ' -f1 "$WORK/fabric/run/node-n$i.pid" 2>/dev/null)"; done
SERVERS[ours]="$NODE_PIDS"; SERVERS[oursw]="$NODE_PIDS"; SERVERS[oursc]="$NODE_PIDS"
SERVERS[qnbd]="${PIDS[${#PIDS[@]}-1]}"

declare -A TARGET
TARGET[ours]="$OURS_URI"
TARGET[oursc]="$OURSC_URI"
TARGET[oursw]="$OURSW_URI"
TARGET[qnbd]="nbd+unix:///bench?socket=$WORK/qnbd.sock"
COLUMNS_=(ours oursw qnbd)
declare -A CACHEMODE   # qemu-img -t per column: none everywhere but librbd with its cache

if [[ $CEPH == 1 ]]; then
  # qemu-block-extra is QEMU's rbd driver (without it qemu-img says "Unknown protocol 'rbd'").
  if ! need ceph-mon || ! need rbd || ! dpkg-query -W -f='${Status}' qemu-block-extra 2>/dev/null | grep -q 'install ok installed'; then
    echo "blk-compare: installing Ceph (ceph-mon ceph-osd ceph-mgr ceph-common) and QEMU's rbd driver (qemu-block-extra) ..." >&2
    (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      ceph-mon ceph-osd ceph-mgr ceph-common qemu-block-extra >/dev/null) || echo "blk-compare: Ceph packages unavailable" >&2
  fi
  if need ceph-mon && [[ -f "$PEERS/ceph-up.sh" ]] && bash "$PEERS/ceph-up.sh" "$WORK/ceph" > "$WORK/ceph-up.log" 2>&1; then
    CEPH_UP=1
    export CEPH_CONF="$WORK/ceph/ceph.conf"
    rbd create --size ${SIZE_MIB}M rbd/bench
    rbd create --size ${SIZE_MIB}M rbd/benchwb
    TARGET[ceph]="rbd:rbd/bench:conf=$CEPH_CONF:id=admin"
    # writeback from the first write: librbd otherwise stays write-through until the client flushes once
    TARGET[cephwb]="rbd:rbd/benchwb:conf=$CEPH_CONF:id=admin:rbd_cache_writethrough_until_flush=false:rbd_cache_size=134217728:rbd_cache_max_dirty=67108864:rbd_cache_target_dirty=33554432"
    CACHEMODE[cephwb]=writeback
    COLUMNS_+=(ceph cephwb)
    SERVERS[ceph]="$(pgrep -d' ' -x 'ceph-osd|ceph-mon|ceph-mgr')"; SERVERS[cephwb]="${SERVERS[ceph]}"
  else
    echo "blk-compare: Ceph did not come up (see $WORK/ceph-up.log); ceph column skipped" >&2
    tail -5 "$WORK/ceph-up.log" >&2 || true
  fi
fi

# ---- qemu-img bench ---------------------------------------------------------------------------------
# bench TARGET COUNT DEPTH SIZE [extra...] -> ops/s
bench() {
  local target="$1" count="$2" depth="$3" size="$4" cache="${CACHEMODE[$5]:-none}" col="$5"; shift 5
  local out t0
  mkdir -p "$WORK/cpu"
  t0=$(server_ticks ${SERVERS[$col]:-})
  out="$(with_client_cpu "$WORK/cpu/$CUR_KEY,$col.client" qemu-img bench -f raw -t "$cache" -c "$count" -d "$depth" -s "$size" "$@" "$target" 2>&1)" || { echo "ERR"; echo "$out" >&2; return 0; }
  echo "$(( $(server_ticks ${SERVERS[$col]:-}) - t0 ))" >"$WORK/cpu/$CUR_KEY,$col.ticks"
  echo "$count" >"$WORK/cpu/$CUR_KEY,$col.ops"
  local secs
  secs="$(sed -n 's/^Run completed in \([0-9.]*\) seconds.*/\1/p' <<<"$out")"
  echo "$secs" >"$WORK/cpu/$CUR_KEY,$col.secs"
  awk -v c="$count" -v s="$secs" 'BEGIN { if (s > 0) printf "%.0f", c / s; else print "ERR" }'
}

# What the servers spend with no client I/O (heartbeats, Ceph's manager, timers), 5 s each: the CPU table counts
# only what a row cost above that.
mkdir -p "$WORK/cpu"
for col in ours qnbd ceph; do
  [[ -n "${SERVERS[$col]:-}" ]] && idle_ticks "$WORK/cpu/idle,$col" ${SERVERS[$col]}
done

declare -A R
ROWS=()
row() { # row KEY LABEL UNIT COUNT DEPTH SIZE [extra] -- runs it on every column
  local key="$1" label="$2" unit="$3" count="$4" depth="$5" size="$6"; shift 6
  ROWS+=("$key|$label|$unit")
  CUR_KEY=$key
  for col in "${COLUMNS_[@]}"; do
    echo "blk-compare: $label on $col ..." >&2
    R[$key,$col]="$(bench "${TARGET[$col]}" "$count" "$depth" "$size" "$col" "$@")"
  done
}
row w4k1  "4 KiB write QD1"               IOPS $((6000 / SCALE))   1  4096 -w
row w4k16 "4 KiB write QD16"              IOPS $((40000 / SCALE))  16 4096 -w
row w4kf  "4 KiB write QD1 + flush each"  IOPS $((2000 / SCALE))   1  4096 -w --flush-interval=1
row r4k1  "4 KiB read QD1"                IOPS $((8000 / SCALE))   1  4096
row r4k16 "4 KiB read QD16"               IOPS $((40000 / SCALE))  16 4096
row w4m   "4 MiB write QD4"               MiB/s $((200 / SCALE))   4  4M -w
row r4m   "4 MiB read QD4"                MiB/s $((200 / SCALE))   4  4M

CUR_KEY=cache
# The cache: the same 64 MiB read twice (cold, then warm) with and without the FASTER cache.
for col in ours oursc; do
  bench "${TARGET[$col]}" 16384 16 4096 "$col" -w >/dev/null   # fill (write-through fills the cache too)
done
for col in ours oursc; do
  R[rr1,$col]="$(bench "${TARGET[$col]}" 16384 1 4096 "$col")"
  R[rr2,$col]="$(bench "${TARGET[$col]}" 16384 1 4096 "$col")"
done

# ---- guest-side QD1 through vhost-user-blk -------------------------------------------------------------
GUEST_OURS_W=""; GUEST_OURS_R=""; GUEST_OURSW_W=""; GUEST_OURSW_R=""; GUEST_QSD_W=""; GUEST_QSD_R=""
if [[ $GUEST == 1 ]]; then
  bash "$ROOT/node/Fabric.Hypervisor/Guest/build-image.sh" "$ROOT/artifacts/guest" >/dev/null
  N=$((3000 / SCALE))
  WL=$(cat <<WEOF
dd if=/dev/urandom of=/tmp/p bs=4k count=$N 2>/dev/null
sync
t0=\$(cut -d' ' -f1 /proc/uptime)
dd if=/tmp/p of=/dev/vda bs=4k count=$N oflag=direct 2>/dev/null
t1=\$(cut -d' ' -f1 /proc/uptime)
dd if=/dev/vda of=/dev/null bs=4k count=$N iflag=direct 2>/dev/null
t2=\$(cut -d' ' -f1 /proc/uptime)
echo "GUEST_W_IOPS=\$(awk -v n=$N -v a=\$t0 -v b=\$t1 'BEGIN{printf "%d", n/(b-a)}')"
echo "GUEST_R_IOPS=\$(awk -v n=$N -v a=\$t1 -v b=\$t2 'BEGIN{printf "%d", n/(b-a)}')"
WEOF
)
  W64="$(printf '%s' "$WL" | base64 -w0)"
  boot() { # boot SOCKET LOG
    timeout 300 qemu-system-x86_64 -accel tcg -m 256 -smp 1 -nodefaults -no-user-config -display none -serial stdio -no-reboot \
      -kernel "$ROOT/artifacts/guest/vmlinuz" -initrd "$ROOT/artifacts/guest/initrd.img" \
      -append "console=ttyS0 quiet panic=-1 fabric.poweroff=1 fabric.workload64=$W64" \
      -object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem \
      -chardev socket,id=c0,path="$1" -device vhost-user-blk-pci,chardev=c0,num-queues=1 > "$2" 2>&1 || true
  }
  mkdir -p "$WORK/fabric/images"
  ln -sfn "$ROOT/artifacts/guest" "$WORK/fabric/images/tiny"
  guest_ours() { # guest_ours VM DISK NODE LOG
    echo "blk-compare: guest: Fabric VM $1 on a 3-replica volume (vhost-user-blk) on $3 ..." >&2
    $FABRIC vm create "$1" --memory 256MiB --accel tcg --disk "$2" --node "$3" --workload "$WL" --cmdline "panic=-1 fabric.poweroff=1" > "$WORK/gvm-$1.log" 2>&1 || cat "$WORK/gvm-$1.log" >&2
    for _ in $(seq 600); do
      $FABRIC vm list --json 2>/dev/null | tr -d ' \n' | grep -q "\"name\":\"$1\"[^}]*\"state\":\"stopped\"" && break
      sleep 0.5
    done
    $FABRIC vm console "$1" > "$4" 2>&1 || true
  }
  guest_ours gbench gdisk n2 "$WORK/guest-ours.log"
  GUEST_OURS_W="$(sed -n 's/^GUEST_W_IOPS=//p' "$WORK/guest-ours.log" | tr -d '\r')"
  GUEST_OURS_R="$(sed -n 's/^GUEST_R_IOPS=//p' "$WORK/guest-ours.log" | tr -d '\r')"
  guest_ours gbenchw gdiskw n3 "$WORK/guest-oursw.log"
  GUEST_OURSW_W="$(sed -n 's/^GUEST_W_IOPS=//p' "$WORK/guest-oursw.log" | tr -d '\r')"
  GUEST_OURSW_R="$(sed -n 's/^GUEST_R_IOPS=//p' "$WORK/guest-oursw.log" | tr -d '\r')"

  qemu-img create -q -f raw "$WORK/qsd.raw" 256M
  qemu-storage-daemon --blockdev driver=file,node-name=file,filename="$WORK/qsd.raw",cache.direct=off \
    --blockdev driver=raw,node-name=disk,file=file \
    --export type=vhost-user-blk,id=exp,node-name=disk,addr.type=unix,addr.path="$WORK/qsd.sock",writable=on \
    > "$WORK/qsd.log" 2>&1 &
  PIDS+=($!)
  wait_sock "$WORK/qsd.sock"
  echo "blk-compare: guest on qemu-storage-daemon vhost-user-blk ..." >&2
  boot "$WORK/qsd.sock" "$WORK/guest-qsd.log"
  GUEST_QSD_W="$(sed -n 's/^GUEST_W_IOPS=//p' "$WORK/guest-qsd.log" | tr -d '\r')"
  GUEST_QSD_R="$(sed -n 's/^GUEST_R_IOPS=//p' "$WORK/guest-qsd.log" | tr -d '\r')"
fi

# ---- report ------------------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else print "-" }'; }
mibs() { awk -v v="$1" 'BEGIN { if (v ~ /^[0-9.]+$/) printf "%.0f", v * 4; else print v }'; }  # 4 MiB ops/s -> MiB/s
echo
echo "## Block I/O, same client (qemu-img bench -t none; -t writeback for Ceph rbd+cache), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs"
echo
HAS_CEPH=0; [[ " ${COLUMNS_[*]} " == *" ceph "* ]] && HAS_CEPH=1
hdr="| test | unit | ours (NBD, 3-replica volume) | ours + write cache | qemu-nbd local file |"
sep="|---|---|---:|---:|---:|"
[[ $HAS_CEPH == 1 ]] && { hdr="$hdr Ceph rbd (size 3) | Ceph rbd + rbd cache |"; sep="$sep---:|---:|"; }
hdr="$hdr ours / local | ours+wc / local |"; sep="$sep---:|---:|"
[[ $HAS_CEPH == 1 ]] && { hdr="$hdr ours / Ceph | ours+wc / Ceph+cache |"; sep="$sep---:|---:|"; }
echo "$hdr"; echo "$sep"
for r in "${ROWS[@]}"; do
  IFS='|' read -r key label unit <<<"$r"
  o="${R[$key,ours]}"; w="${R[$key,oursw]}"; q="${R[$key,qnbd]}"; c="${R[$key,ceph]:-}"; cw="${R[$key,cephwb]:-}"
  if [[ "$unit" == "MiB/s" ]]; then o="$(mibs "$o")"; w="$(mibs "$w")"; q="$(mibs "$q")"; c="$(mibs "$c")"; cw="$(mibs "$cw")"; fi
  line="| $label | $unit | $o | $w | $q |"
  [[ $HAS_CEPH == 1 ]] && line="$line $c | $cw |"
  line="$line $(ratio "$o" "$q") | $(ratio "$w" "$q") |"
  [[ $HAS_CEPH == 1 ]] && line="$line $(ratio "$o" "$c") | $(ratio "$w" "$cw") |"
  echo "$line"
done
echo
echo "## CPU per op (us, servers + client; servers: the three nodes, qemu-nbd or Ceph's daemons, above their idle use; client: qemu-img)"
echo
cpu_cell() { # cpu_cell KEY COL -> "servers + client" (servers above their idle rate)
  local idle=${2%wb}; idle=${idle%w}
  python3 - "$WORK/cpu/$1,$2" "$WORK/cpu/idle,$idle" <<'PY'
import os, sys
b, idle_file = sys.argv[1], sys.argv[2]
hz = os.sysconf("SC_CLK_TCK")
try:
    ticks, client, ops, secs = (float(open(b + s).read()) for s in (".ticks", ".client", ".ops", ".secs"))
    try:
        idle_ticks, idle_secs = open(idle_file).read().split()
        idle = float(idle_ticks) / hz / float(idle_secs)
    except Exception:
        idle = 0.0
    servers = max(0.0, ticks / hz - idle * secs)
    print(f"{servers * 1e6 / ops:.0f} + {client * 1e6 / ops:.0f}")
except Exception:
    print("-")
PY
}
cpu_ratio() { # cpu_ratio "a + b" "c + d" -> (c+d)/(a+b)
  awk -v x="$1" -v y="$2" 'BEGIN { n = split(x, a, " [+] "); m = split(y, b, " [+] "); if (n == 2 && m == 2 && a[1] + a[2] > 0) printf "%.2f", (b[1] + b[2]) / (a[1] + a[2]); else print "-" }'
}
hdr="| test | ours | ours + write cache | qemu-nbd local file |"; sep="|---|---:|---:|---:|"
[[ $HAS_CEPH == 1 ]] && { hdr="$hdr Ceph rbd | Ceph rbd + cache | Ceph / ours | Ceph+cache / ours+wc |"; sep="$sep---:|---:|---:|---:|"; }
echo "$hdr"; echo "$sep"
for r in "${ROWS[@]}"; do
  IFS='|' read -r key label unit <<<"$r"
  o="$(cpu_cell "$key" ours)"; w="$(cpu_cell "$key" oursw)"; q="$(cpu_cell "$key" qnbd)"
  line="| $label | $o | $w | $q |"
  if [[ $HAS_CEPH == 1 ]]; then
    c="$(cpu_cell "$key" ceph)"; cw="$(cpu_cell "$key" cephwb)"
    line="$line $c | $cw | $(cpu_ratio "$o" "$c") | $(cpu_ratio "$w" "$cw") |"
  fi
  echo "$line"
done
echo
echo "## FASTER block cache (64 MiB read twice at QD1 after writing it)"
echo
echo "| read of 64 MiB, 4 KiB QD1 | cache off | cache on | on / off |"
echo "|---|---:|---:|---:|"
echo "| first read (after write-through) | ${R[rr1,ours]} | ${R[rr1,oursc]} | $(ratio "${R[rr1,oursc]}" "${R[rr1,ours]}") |"
echo "| second read | ${R[rr2,ours]} | ${R[rr2,oursc]} | $(ratio "${R[rr2,oursc]}" "${R[rr2,ours]}") |"
echo
echo "## FASTER block cache in process: one 4 KiB read, direct vs cache hit (Fabric.Bench blk-cache-micro)"
echo
dotnet "$BENCH" blk-cache-micro --passes $((40 / SCALE)) | grep '^|'
if [[ $GUEST == 1 ]]; then
  echo
  echo "## Guest-side QD1 (TCG guest, busybox dd O_DIRECT 4 KiB, $N ops) through vhost-user-blk"
  echo
  echo "| test | ours (3-replica volume) | ours + write cache | qemu-storage-daemon (local file, page cache) | ours / qsd | ours+wc / qsd |"
  echo "|---|---:|---:|---:|---:|---:|"
  echo "| 4 KiB write QD1 IOPS | ${GUEST_OURS_W:-ERR} | ${GUEST_OURSW_W:-ERR} | ${GUEST_QSD_W:-ERR} | $(ratio "${GUEST_OURS_W:-x}" "${GUEST_QSD_W:-x}") | $(ratio "${GUEST_OURSW_W:-x}" "${GUEST_QSD_W:-x}") |"
  echo "| 4 KiB read QD1 IOPS | ${GUEST_OURS_R:-ERR} | ${GUEST_OURSW_R:-ERR} | ${GUEST_QSD_R:-ERR} | $(ratio "${GUEST_OURS_R:-x}" "${GUEST_QSD_R:-x}") | $(ratio "${GUEST_OURSW_R:-x}" "${GUEST_QSD_R:-x}") |"
fi
