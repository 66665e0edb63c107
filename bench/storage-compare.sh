#!/usr/bin/env bash
# Side-by-side block storage benchmark on this machine, one run, the two systems one after the other
# so they do not compete for the 2 CPUs:
#   Ceph:   1 mon + 3 BlueStore OSDs on 127.0.0.1 (../shared/peers/ceph-up.sh), pool size 3 / min 2,
#           measured with fio --ioengine=rbd;
#   Fabric: a real 3-node cluster started by `./fabric up` (its own $FABRIC_HOME, nodes
#           on a free loopback /24 such as 127.0.177.1-3, so nothing collides with Ceph on 127.0.0.1), pool replicas 3 / min 2, measured with
#           `fabric volume bench` (the CLI's own storage client over TCP to the node processes).
# Both images are filled with the same random data first, so reads read real data on both systems.
# Workloads: 4 MiB sequential write and read QD16, 4 KiB random write QD1 and QD16, 4 KiB random read
# QD16; plus the largest node (Fabric) / OSD (Ceph) RSS. Prints a markdown table with the ratios.
# Also the CPU time each workload cost per op, servers (Fabric's node processes; Ceph's OSDs, monitor and
# manager) and client (the `fabric` CLI; fio) apart: on 2 shared vCPUs the IOPS of a CPU-bound workload
# follow that cost, and it moves far less than IOPS with the machine's noise.
#   bench/storage-compare.sh [SECONDS]        (default 10 s per workload)
#   FABRIC_ONLY=1 / CEPH_ONLY=1               run one side only
#   STORAGE_WORKLOADS="name ..."              run only these workloads (names below)
# Needs root for the Debian packages (ceph-mon ceph-osd ceph-mgr ceph-common fio), installed here.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER=${1:-10}
WORK=${STORAGE_BENCH_DIR:-/var/tmp/fabric-storage-bench}
PEERS="$ROOT/../shared/peers"
[[ -d "$PEERS" ]] || PEERS=/work/shared/peers
IMAGE_MIB=1024
RESULTS="$WORK/results"
rm -rf "$WORK"; mkdir -p "$RESULTS"

# Workloads: name rw pattern bs qd. The 4 MiB sequential write runs first and fills the image, so
# reads (sequential and random) read real data on both systems.
WORKLOADS=(
  "seqwrite_4m write seq 4M 16"
  "seqread_4m read seq 4M 16"
  "randwrite_4k_qd1 write rand 4K 1"
  "randwrite_4k_qd16 write rand 4K 16"
  "randread_4k_qd16 read rand 4K 16"
)
# STORAGE_WORKLOADS="randwrite_4k_qd16 randwrite_4k_qd1" runs only those (for A/B runs of one change).
if [[ -n "${STORAGE_WORKLOADS:-}" ]]; then
  chosen=()
  for w in "${WORKLOADS[@]}"; do [[ " $STORAGE_WORKLOADS " == *" ${w%% *} "* ]] && chosen+=("$w"); done
  WORKLOADS=("${chosen[@]}")
fi

# server_ticks, with_client_cpu, idle_ticks
source "$ROOT/bench/cpu-lib.sh"

install_packages() {
  local missing=() p
  for p in ceph-mon ceph-osd ceph-mgr ceph-common fio bc uuid-runtime; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  echo "storage-compare: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null 2>&1 || true
  TMPDIR=/var/tmp apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

run_ceph() {
  local base="$WORK/ceph"
  echo "storage-compare: starting Ceph" >&2
  bash "$PEERS/ceph-up.sh" "$base" >"$WORK/ceph-up.log" 2>&1 || { echo "ceph-up failed: see $WORK/ceph-up.log" >&2; return 1; }
  export CEPH_CONF="$base/ceph.conf"
  ceph osd pool create rbd 128 128 >/dev/null 2>&1
  ceph osd pool set rbd size 3 >/dev/null 2>&1
  rbd pool init rbd >/dev/null 2>&1
  echo "storage-compare: Ceph: filling the image" >&2
  rbd import --no-progress "$WORK/fill.raw" rbd/bench >"$WORK/ceph-fill.log" 2>&1 || { echo "rbd import failed: see $WORK/ceph-fill.log" >&2; bash "$PEERS/ceph-down.sh" "$base" >/dev/null 2>&1; return 1; }
  local servers t0
  servers=$(pgrep -d' ' -x 'ceph-osd|ceph-mon|ceph-mgr')
  idle_ticks "$RESULTS/ceph-idle-ticks" $servers
  for w in "${WORKLOADS[@]}"; do
    read -r name rw pattern bs qd <<<"$w"
    local fio_rw=$rw; [[ $pattern == rand ]] && fio_rw="rand$rw"
    t0=$(server_ticks $servers)
    with_client_cpu "$RESULTS/ceph-$name.client-cpu" fio --name="$name" --ioengine=rbd --clientname=admin --pool=rbd --rbdname=bench --rw="$fio_rw" --bs="$bs" \
      --iodepth="$qd" --runtime="$SECONDS_PER" --time_based --direct=1 --output-format=json \
      >"$RESULTS/ceph-$name.json" 2>"$RESULTS/ceph-$name.err" || echo "fio $name failed" >&2
    echo "$(( $(server_ticks $servers) - t0 ))" >"$RESULTS/ceph-$name.server-ticks"
  done
  # RSS of one OSD process (KiB).
  ps -C ceph-osd -o rss= | sort -n | tail -1 >"$RESULTS/ceph-rss"
  bash "$PEERS/ceph-down.sh" "$base" >/dev/null 2>&1 || true
}

# A loopback /24 nobody listens on (other clusters of this machine may use 127.0.77.x and the like).
pick_subnet() {
  local s
  for s in 177 178 179 187 197 207; do
    ss -ltn 2>/dev/null | grep -q " 127\.0\.$s\." || { echo "127.0.$s"; return; }
  done
  echo "127.0.177"
}
FABRIC_SUBNET=${FABRIC_SUBNET:-$(pick_subnet)}

FABRIC_ARGS=(--home "$WORK/fabric-home" --config "$WORK/fabric.toml")
fabric_cli() {
  "$ROOT/fabric" "$@" "${FABRIC_ARGS[@]}"
}

run_fabric() {
  echo "storage-compare: starting Fabric (3 nodes on $FABRIC_SUBNET.1-3)" >&2
  {
    printf '[cluster]\nname = "storagebench"\nmonitors = ["n1"]\nheartbeat_interval = "500ms"\nheartbeat_grace = "3s"\ndown_out_interval = "60s"\n'
    for i in 1 2 3; do
      printf '\n[[node]]\nname = "n%s"\ngrpc = "%s.%s:7000"\ndata = "%s.%s"\nstorage_port = 6800\nmetrics = "%s.%s:9100"\nfailure_domain = "rack1/n%s"\ncapacity = "8GiB"\nvm_memory = "1GiB"\nvm_cpus = 2\n' \
        "$i" "$FABRIC_SUBNET" "$i" "$FABRIC_SUBNET" "$i" "$FABRIC_SUBNET" "$i" "$i"
    done
    printf '\n[[pool]]\nname = "rbd"\nreplicas = 3\nmin_replicas = 2\npg_count = 128\nfailure_domain = "host"\n'
    printf '\n[[volume]]\nname = "bench"\npool = "rbd"\nsize = "%sMiB"\nobject_size = "4MiB"\n' "$IMAGE_MIB"
  } >"$WORK/fabric.toml"
  "$ROOT/fabric" up "$WORK/fabric.toml" --home "$WORK/fabric-home" >"$WORK/fabric-up.log" 2>&1 || { echo "fabric up failed: see $WORK/fabric-up.log" >&2; fabric_down; return 1; }
  local i
  for i in $(seq 1 120); do
    fabric_cli pg list --json 2>/dev/null | python3 -c 'import json,sys; j=json.load(sys.stdin); sys.exit(0 if j["states"].get("active+clean")==j["total"] else 1)' && break
    sleep 0.5
  done
  echo "storage-compare: Fabric: filling the volume" >&2
  fabric_cli volume import bench "$WORK/fill.raw" >"$WORK/fabric-fill.log" 2>&1 || echo "fabric fill failed: see $WORK/fabric-fill.log" >&2
  # The OSDs' latency counters before and after each workload (fabric osd perf): the report shows where a
  # workload's time went, per stage, from the difference.
  fabric_cli osd perf --json >"$RESULTS/fabric-perf-start.json" 2>/dev/null || true
  # The CLI's own start (the .NET runtime, connecting to the cluster) is not a cost of the workload's ops: the
  # report takes the CPU of a command that only starts and asks for the volume off each bench's client CPU.
  with_client_cpu "$RESULTS/fabric-cli-start.client-cpu" "$ROOT/fabric" volume info bench --json "${FABRIC_ARGS[@]}" >/dev/null 2>&1 || true
  local before="$RESULTS/fabric-perf-start.json"
  local servers="" pid t0
  for i in 1 2 3; do
    pid=$(cut -d' ' -f1 "$WORK/fabric-home/run/node-n$i.pid" 2>/dev/null) && servers+=" $pid"
  done
  idle_ticks "$RESULTS/fabric-idle-ticks" $servers
  for w in "${WORKLOADS[@]}"; do
    read -r name rw pattern bs qd <<<"$w"
    t0=$(server_ticks $servers)
    with_client_cpu "$RESULTS/fabric-$name.client-cpu" "$ROOT/fabric" volume bench bench --rw "$rw" --pattern "$pattern" --bs "$bs" --qd "$qd" \
      --seconds "$SECONDS_PER" --json "${FABRIC_ARGS[@]}" \
      >"$RESULTS/fabric-$name.json" 2>"$RESULTS/fabric-$name.err" || echo "fabric $name failed" >&2
    echo "$(( $(server_ticks $servers) - t0 ))" >"$RESULTS/fabric-$name.server-ticks"
    fabric_cli osd perf --json >"$RESULTS/fabric-perf-$name.json" 2>/dev/null || true
    cp "$before" "$RESULTS/fabric-perf-before-$name.json" 2>/dev/null || true
    before="$RESULTS/fabric-perf-$name.json"
  done
  local rss=0 r
  for pid in $servers; do
    r=$(ps -o rss= -p "$pid" 2>/dev/null | tr -d ' ' || echo 0)
    (( ${r:-0} > rss )) && rss=$r
  done
  echo "$rss" >"$RESULTS/fabric-rss"
  fabric_down
}

fabric_down() {
  "$ROOT/fabric" down --purge --home "$WORK/fabric-home" >/dev/null 2>&1 || true
}

install_packages || { echo "storage-compare: could not install packages" >&2; exit 1; }
# The data both images are filled with before the workloads (random: nothing compresses or dedups).
head -c "$((IMAGE_MIB << 20))" /dev/urandom >"$WORK/fill.raw"
trap 'fabric_down' EXIT
[[ "${FABRIC_ONLY:-0}" == 1 ]] || run_ceph
[[ "${CEPH_ONLY:-0}" == 1 ]] || run_fabric

python3 - "$RESULTS" <<'PY'
import json, os, sys
d = sys.argv[1]
def ceph(name):
    try:
        j = json.load(open(f"{d}/ceph-{name}.json"))["jobs"][0]
        side = j["write"] if j["write"]["io_bytes"] > 0 else j["read"]
        p = side["clat_ns"]["percentile"]
        return dict(iops=side["iops"], mibps=side["bw_bytes"] / 1048576, p50=p.get("50.000000", 0) / 1000, ops=side["total_ios"],
                    seconds=j["job_runtime"] / 1000)
    except Exception:
        return None
def fabric(name):
    try:
        j = json.load(open(f"{d}/fabric-{name}.json"))
        return dict(iops=j["iops"], mibps=j["mibps"], p50=j["p50_us"], p99=j["p99_us"], ops=j["ops"], seconds=j["seconds"])
    except Exception:
        return None
def fmt(v, k):
    return "n/a" if v is None else (f"{v[k]:,.0f}" if k == "iops" else f"{v[k]:,.1f}")
def ratio(a, b, k, invert=False):
    if a is None or b is None or not b[k] or not a[k]:
        return "n/a"
    return f"{(b[k] / a[k]) if invert else (a[k] / b[k]):.2f}x"
rows = [
    ("4K randwrite QD1 IOPS", "randwrite_4k_qd1", "iops", False, ">= 1x"),
    ("4K randwrite QD1 p50 latency (us)", "randwrite_4k_qd1", "p50", True, "<= 1/5 (ratio >= 5x)"),
    ("4K randwrite QD16 IOPS", "randwrite_4k_qd16", "iops", False, ">= 10x"),
    ("4K randread QD16 IOPS", "randread_4k_qd16", "iops", False, ">= 3x"),
    ("4M seq write QD16 MiB/s", "seqwrite_4m", "mibps", False, ">= 2x"),
    ("4M seq read QD16 MiB/s", "seqread_4m", "mibps", False, ">= 2x"),
]
print("| workload | Fabric | Ceph | Fabric/Ceph | goal |")
print("|---|---:|---:|---:|---|")
for label, name, key, invert, goal in rows:
    f, c = fabric(name), ceph(name)
    print(f"| {label} | {fmt(f, key)} | {fmt(c, key)} | {ratio(f, c, key, invert)} | {goal} |")
def rss(side):
    try:
        return int(open(f"{d}/{side}-rss").read().strip() or 0) / 1024
    except Exception:
        return None
fr, cr = rss("fabric"), rss("ceph")
print(f"| max node/OSD RSS (MiB) | {fr if fr is None else round(fr)} | {cr if cr is None else round(cr)} | | Fabric <= 512 |")
# CPU per op: what each workload cost the servers and the client, in CPU microseconds per op (USER_HZ ticks of
# the server processes over the workload; the client's rusage, less the CLI's start for Fabric).
def number(path, default=None):
    try:
        return float(open(path).read().strip())
    except Exception:
        return default
hz = os.sysconf("SC_CLK_TCK")
cli_start = number(f"{d}/fabric-cli-start.client-cpu", 0.0)
def idle_rate(side):
    try:
        ticks, secs = open(f"{d}/{side}-idle-ticks").read().split()
        return float(ticks) / hz / float(secs)
    except Exception:
        return 0.0
idle = {"fabric": idle_rate("fabric"), "ceph": idle_rate("ceph")}
def cpu_per_op(side, name, result):
    ticks, client = number(f"{d}/{side}-{name}.server-ticks"), number(f"{d}/{side}-{name}.client-cpu")
    if result is None or ticks is None or client is None or not result.get("ops"):
        return None
    if side == "fabric":
        client = max(0.0, client - cli_start)
    servers = max(0.0, ticks / hz - idle[side] * result["seconds"])
    return (servers * 1e6 / result["ops"], client * 1e6 / result["ops"])
print()
print(f"CPU per op (us; servers above their idle use, Fabric {idle['fabric'] * 100:.1f} % and Ceph {idle['ceph'] * 100:.1f} % of a CPU;"
      f" client; the Fabric CLI's start, {cli_start:.2f} s, taken off its client time):")
print()
print("| workload | Fabric servers | Fabric client | Ceph servers | Ceph client | Ceph/Fabric, servers | Ceph/Fabric, both |")
print("|---|---:|---:|---:|---:|---:|---:|")
for label, name in [("4M seq write", "seqwrite_4m"), ("4M seq read", "seqread_4m"), ("4K randwrite QD1", "randwrite_4k_qd1"),
                    ("4K randwrite QD16", "randwrite_4k_qd16"), ("4K randread QD16", "randread_4k_qd16")]:
    f, c = cpu_per_op("fabric", name, fabric(name)), cpu_per_op("ceph", name, ceph(name))
    cell = lambda v, i: "n/a" if v is None else f"{v[i]:,.0f}"
    rs = "n/a" if f is None or c is None or not f[0] else f"{c[0] / f[0]:.2f}x"
    rb = "n/a" if f is None or c is None or not sum(f) else f"{sum(c) / sum(f):.2f}x"
    print(f"| {label} | {cell(f, 0)} | {cell(f, 1)} | {cell(c, 0)} | {cell(c, 1)} | {rs} | {rb} |")
# Where Fabric's time went in each workload: the mean of each OSD stage over the workload (all OSDs together),
# from the counters' difference before and after it (fabric osd perf --json).
def stage_totals(path):
    try:
        totals = {}
        for osd in json.load(open(path)):
            for stage, v in (osd.get("stages") or {}).items():
                c, s = totals.get(stage, (0, 0.0))
                totals[stage] = (c + v["count"], s + v["count"] * v["mean_ms"])
        return totals
    except Exception:
        return None
stages = ["write", "write_prepare", "write_local_commit", "write_replica_ack", "replica_commit", "read", "store_sync"]
print()
print("OSD stages, mean per op over each workload (us; fabric osd perf before and after it):")
print()
print("| workload | " + " | ".join(stages) + " |")
print("|---|" + "---:|" * len(stages))
for label, name in [("4M seq write", "seqwrite_4m"), ("4M seq read", "seqread_4m"), ("4K randwrite QD1", "randwrite_4k_qd1"),
                    ("4K randwrite QD16", "randwrite_4k_qd16"), ("4K randread QD16", "randread_4k_qd16")]:
    a, b = stage_totals(f"{d}/fabric-perf-before-{name}.json"), stage_totals(f"{d}/fabric-perf-{name}.json")
    if a is None or b is None:
        continue
    cells = []
    for st in stages:
        c0, s0 = a.get(st, (0, 0.0)); c1, s1 = b.get(st, (0, 0.0))
        cells.append("" if c1 - c0 <= 0 else f"{(s1 - s0) / (c1 - c0) * 1000:,.0f}")
    print(f"| {label} | " + " | ".join(cells) + " |")
PY
