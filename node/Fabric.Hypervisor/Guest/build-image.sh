#!/usr/bin/env bash
# Builds the tiny Fabric guest: Debian's cloud kernel + an initramfs with busybox-static, the virtio
# modules and Fabric's /init. Usage: build-image.sh OUT_DIR
# Output: OUT_DIR/vmlinuz, OUT_DIR/initrd.img, OUT_DIR/image.txt (kernel version). Re-running with the
# same inputs is a no-op. Needs: apt-get (download only; the host kernel is not touched), dpkg-deb,
# busybox-static, cpio, gzip.
set -euo pipefail
OUT="${1:?usage: build-image.sh OUT_DIR}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

for tool in busybox cpio gzip dpkg-deb apt-get; do
  command -v "$tool" >/dev/null 2>&1 || { echo "build-image: '$tool' is missing (apt-get install busybox-static cpio)" >&2; exit 1; }
done
BUSYBOX="$(command -v busybox)"
if ! file_out="$(LC_ALL=C ldd "$BUSYBOX" 2>&1)" || ! grep -q "not a dynamic" <<<"$file_out"; then
  [[ -x /bin/busybox ]] && BUSYBOX=/bin/busybox
fi

# The newest cloud kernel Debian offers here (its virtio drivers are modules, uncompressed).
pick_kernel() {
  apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$' 2>/dev/null |
    awk '{print $1}' | sort -V | tail -n 1
}
PKG="$(pick_kernel)"
if [[ -z "$PKG" ]]; then
  apt-get update -q >/dev/null 2>&1 || true
  PKG="$(pick_kernel)"
fi
[[ -n "$PKG" ]] || { echo "build-image: no linux-image-6.1.0-*-cloud-amd64-unsigned package is available (apt-get update?)" >&2; exit 1; }
KVER="${PKG#linux-image-}"; KVER="${KVER%-unsigned}"

stamp="$KVER $(sha256sum "$HERE/init" "$HERE/build-image.sh" "$BUSYBOX" | sha256sum | cut -c1-16)"
if [[ -f "$OUT/image.txt" && -f "$OUT/vmlinuz" && -f "$OUT/initrd.img" && "$(cat "$OUT/image.txt")" == "$stamp" ]]; then
  echo "$OUT"
  exit 0
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
deb="$(ls "$OUT"/"$PKG"_*.deb 2>/dev/null | head -n 1 || true)"
if [[ -z "$deb" ]]; then
  (cd "$WORK" && apt-get download -q "$PKG" >/dev/null 2>&1) || (cd "$WORK" && apt-get update -q >/dev/null 2>&1 && apt-get download -q "$PKG" >/dev/null)
  mv "$WORK"/"$PKG"_*.deb "$OUT"/
  deb="$(ls "$OUT"/"$PKG"_*.deb | head -n 1)"
fi
dpkg-deb -x "$deb" "$WORK/k"
cp "$WORK/k/boot/vmlinuz-$KVER" "$OUT/vmlinuz.tmp"

R="$WORK/root"
mkdir -p "$R"/{bin,sbin,dev,proc,sys,tmp,run,mnt,etc,lib/modules,root,var/log}
cp "$BUSYBOX" "$R/bin/busybox"
for applet in $("$R/bin/busybox" --list); do
  [[ -e "$R/bin/$applet" ]] || ln -s busybox "$R/bin/$applet"
done
MODDIR="$WORK/k/lib/modules/$KVER/kernel"
# Load order matters: each module after the ones it depends on.
MODULES=(drivers/virtio/virtio.ko drivers/virtio/virtio_ring.ko drivers/virtio/virtio_pci_modern_dev.ko
  drivers/virtio/virtio_pci_legacy_dev.ko drivers/virtio/virtio_pci.ko drivers/block/virtio_blk.ko
  net/core/failover.ko drivers/net/net_failover.ko drivers/net/virtio_net.ko)
: > "$R/lib/modules/order"
for m in "${MODULES[@]}"; do
  src="$MODDIR/$m"
  if [[ ! -f "$src" && -f "$src.xz" ]]; then xz -dc "$src.xz" > "$WORK/$(basename "$m")"; src="$WORK/$(basename "$m")"; fi
  [[ -f "$src" ]] || { echo "build-image: module $m not found in $PKG" >&2; exit 1; }
  cp "$src" "$R/lib/modules/"
  basename "$m" >> "$R/lib/modules/order"
done
cp "$HERE/init" "$R/init"
chmod +x "$R/init"
echo "root:x:0:0:root:/root:/bin/sh" > "$R/etc/passwd"
echo "fabric-guest" > "$R/etc/hostname"
(cd "$R" && find . -print0 | cpio --null -o -H newc --quiet | gzip -6) > "$OUT/initrd.img.tmp"
mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
mv "$OUT/initrd.img.tmp" "$OUT/initrd.img"
echo "$stamp" > "$OUT/image.txt"
echo "$OUT"
