#!/usr/bin/env bash
# Side-by-side datapath comparison in one run (needs root; loopback and namespaces only):
#   iperf3 TCP (1 stream) and UDP 64-byte between two namespaces through
#     (a) a Linux bridge, offloads off          (b) Open vSwitch 3.1 userspace (netdev) datapath, offloads off
#     (c) our switch (AF_PACKET ports on the host ends of the veths), with offloads (virtio-net header) and without
#   and the overlay: kernel VXLAN + bridge (offloads off), VXLAN between two OVS userspace instances,
#   our VXLAN between two switch instances (switch-host), and our VXLAN between two real node daemons
#   (Fabric.Node processes in the "host" namespaces, joined into a cluster; the VM namespaces' veths
#   attached to their node's switch as AF_PACKET access ports with `switch-nodes`).
# Ends with a markdown table of medians and ratios. Topologies and iperf3 runs come from the peer scripts
# (../shared/peers: net-lib.sh, net-bench.sh); results in $PEER_DIR/res.
#   bench/net-compare.sh            everything (about 8 minutes)
#   bench/net-compare.sh lb ours    only some: lb ovs ours ours-nooff kvx ovx fvx nvx
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS="${FABRIC_PEERS:-$ROOT/../shared/peers}"
# A git worktree under wt/NAME sits one level deeper than the main checkout.
[[ -f "$PEERS/net-lib.sh" || -n "${FABRIC_PEERS:-}" ]] || PEERS="$ROOT/../../shared/peers"
[[ -f "$PEERS/net-lib.sh" ]] || { echo "net-compare: peer scripts not found in $PEERS (set FABRIC_PEERS)"; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "net-compare: needs root (network namespaces, AF_PACKET)"; exit 1; }
export PEER_DIR="${PEER_DIR:-/tmp/fabric-net-compare}"
rm -rf "$PEER_DIR"; mkdir -p "$PEER_DIR/res"
# shellcheck source=/dev/null
source "$PEERS/net-lib.sh"

# Install what the comparison needs (not part of the test packages: only this script uses OVS;
# iputils-ping for the reachability wait before each measurement).
need=()
for p in openvswitch-switch iperf3 ethtool iproute2 iputils-ping bc python3; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [[ ${#need[@]} -gt 0 ]]; then
  echo "net-compare: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null 2>&1 || true
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null || { echo "net-compare: apt-get install failed"; exit 1; }
fi

echo "net-compare: building bench/Fabric.Bench and node/Fabric.Node ..."
dotnet build "$ROOT/bench/Fabric.Bench" -c Release -nologo -v q -clp:ErrorsOnly >/dev/null || { echo "net-compare: build failed"; exit 1; }
dotnet build "$ROOT/node/Fabric.Node" -c Release -nologo -v q -clp:ErrorsOnly >/dev/null || { echo "net-compare: build of the node failed"; exit 1; }
BENCH=(dotnet "$ROOT/artifacts/bin/Fabric.Bench/release/Fabric.Bench.dll")

# The datapath thread's nice value: kernel datapaths forward in softirq context, ahead of every user
# thread; FABRIC_NICE="" runs ours at normal priority.
NICE="--nice ${FABRIC_NICE--10}"; [[ -z "${FABRIC_NICE-x}" ]] && NICE=""
HOSTS=()
cleanup() {
  for pid in "${HOSTS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${HOSTS[@]}"; do wait "$pid" 2>/dev/null; done
  HOSTS=()
  for o in main A B; do [[ -d "$PEER_DIR/ovs-$o" ]] && ovs_stop $o >/dev/null 2>&1; done
  ip link del pcbr 2>/dev/null; ip link del pc1-h 2>/dev/null; ip link del pc2-h 2>/dev/null
  ns_down
  ip netns del pcA 2>/dev/null; ip netns del pcB 2>/dev/null; true
}
trap cleanup EXIT

# switch-host in the background (optionally inside a namespace); waits until it prints "ready".
start_host() {  # start_host LOG [ip netns exec NS] -- ARGS...
  local log=$1; shift
  "$@" >"$log" 2>&1 &
  HOSTS+=($!)
  for _ in $(seq 150); do grep -q '^ready' "$log" && return 0; sleep 0.1; done
  echo "net-compare: switch-host did not start:"; cat "$log"; return 1
}

bench() {  # bench TAG
  echo "== $1"
  bash "$PEERS/net-bench.sh" "$1" | tee "$PEER_DIR/res/$1.summary"
}

run_lb()   { cleanup; ns_up; topo_linuxbridge off; bench lb; }
run_ovs()  { cleanup; ns_up; topo_ovs off; bench ovs; }
run_ours() {
  cleanup; ns_up; topo_hostveths on
  start_host "$PEER_DIR/host-ours.log" "${BENCH[@]}" switch-host bridge $NICE --port pc1-h --port pc2-h || return
  bench ours; cleanup; cat "$PEER_DIR/host-ours.log"
}
run_ours_nooff() {
  cleanup; ns_up; topo_hostveths off
  start_host "$PEER_DIR/host-ours-nooff.log" "${BENCH[@]}" switch-host bridge $NICE --no-offloads --port pc1-h --port pc2-h || return
  bench ours-nooff; cleanup; cat "$PEER_DIR/host-ours-nooff.log"
}
# The overlay topology of kvxlan-up.sh: VM namespaces pc1/pc2, "hosts" pcA/pcB joined by an underlay
# veth uA<->uB (172.31.0.0/24), VM-side veths with MTU 1450. $1 = offloads of the VM-side veths.
overlay_topo() {
  ns_up
  ip netns add pcA; ip netns add pcB; ip -n pcA link set lo up; ip -n pcB link set lo up
  ip link add uA netns pcA type veth peer name uB netns pcB
  ip link add e1 netns pc1 type veth peer name pc1-h netns pcA
  ip link add e2 netns pc2 type veth peer name pc2-h netns pcB
  for x in "pcA uA off" "pcB uB off" "pc1 e1 $1" "pcA pc1-h $1" "pc2 e2 $1" "pcB pc2-h $1"; do
    set -- $x; ip -n "$1" link set "$2" up; offloads "$1" "$2" "$3"
  done
  ip -n pc1 link set e1 mtu 1450; ip -n pc2 link set e2 mtu 1450
  ip -n pc1 addr add 10.77.0.1/24 dev e1; ip -n pc2 addr add 10.77.0.2/24 dev e2
  ip -n pcA addr add 172.31.0.1/24 dev uA; ip -n pcB addr add 172.31.0.2/24 dev uB
}
run_kvx() {
  # Kernel reference: a vxlan device and a Linux bridge in each host namespace, offloads off (as in
  # ../shared/peers/kvxlan-up.sh, set up here because that script stops early under `set -e`).
  cleanup; overlay_topo off
  for side in A B; do
    local ns=pc$side me peer vm
    if [[ $side == A ]]; then me=1; peer=2; vm=pc1-h; else me=2; peer=1; vm=pc2-h; fi
    ip -n "$ns" link add vx0 type vxlan id 5000 remote 172.31.0.$peer local 172.31.0.$me dstport 4789
    ip -n "$ns" link add br0 type bridge; ip -n "$ns" link set br0 type bridge stp_state 0
    ip -n "$ns" link set vx0 master br0; ip -n "$ns" link set "$vm" master br0
    ip -n "$ns" link set vx0 up; ip -n "$ns" link set br0 up; offloads "$ns" vx0 off
  done
  bench kvx
}
run_fvx() {
  # The same topology with a switch-host in pcA and one in pcB instead of the kernel's vxlan + bridge;
  # the VM-side veths keep their offloads (our ports take the virtio-net header).
  cleanup; overlay_topo on
  start_host "$PEER_DIR/host-fvx-a.log" ip netns exec pcA "${BENCH[@]}" switch-host vxlan $NICE --local 172.31.0.1 --remote 172.31.0.2 --port pc1-h || return
  start_host "$PEER_DIR/host-fvx-b.log" ip netns exec pcB "${BENCH[@]}" switch-host vxlan $NICE --local 172.31.0.2 --remote 172.31.0.1 --port pc2-h || return
  bench fvx; cleanup; cat "$PEER_DIR/host-fvx-a.log" "$PEER_DIR/host-fvx-b.log"
}

run_ovx() {
  # Two OVS userspace instances, one in each host namespace, each with br-phy (the underlay port and the
  # tunnel endpoint address) and br-int (the VM's veth and a VXLAN port), as ../shared/peers/vxlan-up.sh.
  cleanup; overlay_topo off
  ip -n pcA addr flush dev uA; ip -n pcB addr flush dev uB
  for side in A B; do
    local ns=pc$side me peer vm
    if [[ $side == A ]]; then me=1; peer=2; vm=pc1-h; else me=2; peer=1; vm=pc2-h; fi
    ovs_start $side "$ns"
    vsctl $side add-br br-phy -- set bridge br-phy datapath_type=netdev -- add-port br-phy u$side
    ip -n "$ns" addr add 172.31.0.$me/24 dev br-phy; ip -n "$ns" link set br-phy up
    vsctl $side add-br br-int -- set bridge br-int datapath_type=netdev -- add-port br-int $vm \
      -- add-port br-int vx0 -- set interface vx0 type=vxlan options:remote_ip=172.31.0.$peer options:key=5000
  done
  for _ in $(seq 100); do ip netns exec pc1 ping -c1 -W1 10.77.0.2 >/dev/null 2>&1 && break; sleep 0.2; done
  bench ovx
}
run_nvx() {
  # The same topology with a real node daemon in pcA (n1, the monitor) and one in pcB (n2), data
  # addresses on the underlay; switch-nodes (in pcA, where it reaches both nodes) defines the VXLAN
  # network, attaches pc1-h to n1's switch and pc2-h to n2's. The node processes run at $FABRIC_NICE.
  cleanup; overlay_topo on
  local nice=(); [[ -n "$NICE" ]] && nice=(--nice "${FABRIC_NICE--10}")
  start_host "$PEER_DIR/host-nvx.log" ip netns exec pcA "${BENCH[@]}" switch-nodes --home "$PEER_DIR/nodes" "${nice[@]}" \
    --node n1=172.31.0.1@pcA --node n2=172.31.0.2@pcB --port n1=pc1-h --port n2=pc2-h || return
  bench nvx; cleanup; cat "$PEER_DIR/host-nvx.log"
}

ALL=(lb ovs ours ours-nooff kvx ovx fvx nvx)
SEL=("$@"); [[ ${#SEL[@]} -eq 0 ]] && SEL=("${ALL[@]}")
T0=$(date +%s)
for t in "${SEL[@]}"; do
  case $t in
    lb) run_lb ;; ovs) run_ovs ;; ours) run_ours ;; ours-nooff) run_ours_nooff ;; kvx) run_kvx ;; ovx) run_ovx ;; fvx) run_fvx ;; nvx) run_nvx ;;
    *) echo "net-compare: unknown topology $t (use: ${ALL[*]})"; exit 2 ;;
  esac
done
cleanup

python3 - "$PEER_DIR" "${SEL[@]}" <<'PY'
import sys, os
d = sys.argv[1]; sel = sys.argv[2:]
def med(tag, kind):
    try:
        for line in open(os.path.join(d, 'res', tag + '.summary')):
            p = line.split()
            if len(p) == 3 and p[0] == 'MEDIAN' and p[1] == f'net.{tag}.{kind}': return float(p[2])
    except OSError: pass
    return None
names = {'lb': 'Linux bridge, offloads off', 'ovs': 'OVS 3.1 netdev, offloads off', 'ours': 'Fabric switch (AF_PACKET, offloads)',
         'ours-nooff': 'Fabric switch (AF_PACKET, offloads off)', 'kvx': 'kernel VXLAN + bridge, offloads off', 'ovx': 'OVS 3.1 netdev VXLAN (two instances), offloads off',
         'fvx': 'Fabric VXLAN (two switch-host instances)', 'nvx': 'Fabric VXLAN (two real node daemons)'}
lb, ovs, kvx = med('lb', 'tcp'), med('ovs', 'tcp'), med('kvx', 'tcp')
ovs_u = med('ovs', 'udp64')
def ratio(a, b): return f'{a / b:.2f}x' if a is not None and b else '-'
def f(v, fmt): return fmt.format(v) if v is not None else '-'
print()
print('| path | TCP 1 stream (Gbit/s) | UDP 64 B received (kpps) | TCP / Linux bridge | TCP / OVS | UDP / OVS | TCP / kernel VXLAN |')
print('|---|---|---|---|---|---|---|')
ovx, ovx_u = med('ovx', 'tcp'), med('ovx', 'udp64')
overlay = ('kvx', 'ovx', 'fvx', 'nvx')
for t in sel:
    tcp, udp = med(t, 'tcp'), med(t, 'udp64')
    vx = ratio(tcp, kvx) if t in overlay else ''
    # Overlay rows compare with OVS's VXLAN (ovx), bridge rows with OVS's bridge (ovs).
    o, ou = (ovx, ovx_u) if t in overlay else (ovs, ovs_u)
    print(f'| {names.get(t, t)} | {f(tcp, "{:.2f}")} | {f(udp / 1000 if udp else None, "{:.0f}")} | {"" if t in overlay else ratio(tcp, lb)} | {ratio(tcp, o)} | {ratio(udp, ou)} | {vx} |')
print()
print('Overlay rows: "/ OVS" is against OVS VXLAN (ovx); bridge rows: against the OVS bridge (ovs).')
print('Goals: TCP >= Linux bridge (1.0x) and >= 4x OVS; UDP-64 >= 2x OVS; Fabric VXLAN TCP >= kernel VXLAN (1.0x).')
PY
echo "net-compare: done in $(( $(date +%s) - T0 )) s; load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
