# Debian packages Fabric needs, and the one function that installs the missing ones.
# Sourced by ./fabric (runtime packages, for `up`) and ./test.sh (everything the tests need).

# What a node runs on: the RocksDB C library, QEMU for VMs, busybox/cpio for the guest image,
# etcd for HA monitors.
FABRIC_RUNTIME_PACKAGES=(librocksdb7.8 qemu-system-x86 qemu-utils busybox-static cpio etcd-server iproute2 procps)
# What the tests use besides: tshark decodes our captures, fio/iperf3 for tools, nodejs/npm for the
# grpc-js interop client, ethtool for namespace tests.
FABRIC_TEST_PACKAGES=("${FABRIC_RUNTIME_PACKAGES[@]}" tshark fio iperf3 ethtool nodejs npm)

fabric_install_packages() {
  local missing=() p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      # nodejs/npm may come from outside Debian (a machine image): accept the commands too.
      case "$p" in
        nodejs) command -v node >/dev/null 2>&1 && continue ;;
        npm) command -v npm >/dev/null 2>&1 && continue ;;
      esac
      missing+=("$p")
    fi
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "fabric: missing Debian packages: ${missing[*]} (run as root or install them: apt-get install ${missing[*]})"
      return 1
    fi
  fi
  echo "fabric: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q >/dev/null 2>&1 || $sudo apt-get update -q
  # tshark asks whether non-root users may capture: answer no, non-interactively.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $sudo debconf-set-selections 2>/dev/null || true
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}
