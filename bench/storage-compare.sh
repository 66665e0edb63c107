#!/usr/bin/env bash
# Side-by-side block storage benchmark on this machine: Ceph (1 mon, 3 BlueStore OSDs, pool size 3,
# measured with fio --ioengine=rbd) and a 3-OSD Fabric storage cluster on 127.0.0.1-3 (RocksDB stores,
# replicas 3 / min 2, measured with VolumeBenchmark through the volume client), same workloads, one
# after the other so they do not compete for the 2 CPUs. Prints a markdown table with the ratios.
#   bench/storage-compare.sh [SECONDS]        (default 10 s per workload)
#   FABRIC_ONLY=1 / CEPH_ONLY=1               run one side only
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
  rbd create --size "${IMAGE_MIB}M" rbd/bench >/dev/null
  for w in "${WORKLOADS[@]}"; do
    read -r name rw pattern bs qd <<<"$w"
    local fio_rw=$rw; [[ $pattern == rand ]] && fio_rw="rand$rw"
    fio --name="$name" --ioengine=rbd --clientname=admin --pool=rbd --rbdname=bench --rw="$fio_rw" --bs="$bs" \
      --iodepth="$qd" --runtime="$SECONDS_PER" --time_based --direct=1 --output-format=json \
      >"$RESULTS/ceph-$name.json" 2>"$RESULTS/ceph-$name.err" || echo "fio $name failed" >&2
  done
  # RSS of one OSD process (KiB).
  ps -C ceph-osd -o rss= | sort -n | tail -1 >"$RESULTS/ceph-rss"
  bash "$PEERS/ceph-down.sh" "$base" >/dev/null 2>&1 || true
}

run_fabric() {
  echo "storage-compare: building Fabric.Bench" >&2
  dotnet build "$ROOT/bench/Fabric.Bench" -c Release -nologo -v q -clp:ErrorsOnly >&2 || return 1
  local dll="$ROOT/artifacts/bin/Fabric.Bench/release/Fabric.Bench.dll"
  local pids=()
  for i in 1 2 3; do
    dotnet "$dll" storage-host --osd "$i" --dir "$WORK/fabric" --volume-mib "$IMAGE_MIB" >"$WORK/osd.$i.log" 2>&1 &
    pids+=($!)
  done
  for w in "${WORKLOADS[@]}"; do
    read -r name rw pattern bs qd <<<"$w"
    dotnet "$dll" storage-bench --rw "$rw" --pattern "$pattern" --bs "$bs" --qd "$qd" --seconds "$SECONDS_PER" \
      --volume-mib "$IMAGE_MIB" >"$RESULTS/fabric-$name.json" 2>"$RESULTS/fabric-$name.err" || echo "fabric $name failed" >&2
  done
  local rss=0 r
  for p in "${pids[@]}"; do r=$(ps -o rss= -p "$p" 2>/dev/null || echo 0); (( r > rss )) && rss=$r; done
  echo "$rss" >"$RESULTS/fabric-rss"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait "${pids[@]}" 2>/dev/null
}

install_packages || { echo "storage-compare: could not install packages" >&2; exit 1; }
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
        return dict(iops=side["iops"], mibps=side["bw_bytes"] / 1048576, p50=p.get("50.000000", 0) / 1000)
    except Exception:
        return None
def fabric(name):
    try:
        j = json.loads(open(f"{d}/fabric-{name}.json").read().strip().splitlines()[-1])
        return dict(iops=j["iops"], mibps=j["mibps"], p50=j["p50_us"])
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
PY
