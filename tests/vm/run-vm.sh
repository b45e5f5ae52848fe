#!/usr/bin/env bash
# `make test-cgroup2`: boots Debian's kernel under qemu (TCG) on a pure cgroup v2 hierarchy,
# with the host's / shared read-only over virtio-9p, so the guest runs the very bulkhead binary
# and /usr/bin/python3 just built and installed here. Stage 2 (tests/vm/guest.sh) runs the
# suites as root and as a delegated unprivileged user and writes JUnit files to a writable
# share; this script prints one line per test and fails when any test failed or the VM did
# not finish within BULKHEAD_VM_TIMEOUT seconds.
# Usage: tests/vm/run-vm.sh [BUILD_DIR]   (env: BULKHEAD_VM_TIMEOUT, BULKHEAD_VM_ONLY=phase,...)
set -euo pipefail
SOURCE=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$SOURCE/build}" && pwd)
TIMEOUT_S=${BULKHEAD_VM_TIMEOUT:-1800}

die() { echo "test-cgroup2: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (qemu shares / read-only with the guest)"
[ -x "$BUILD/bin/bulkhead" ] || die "$BUILD/bin/bulkhead not built (make build)"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (make deps)"
[ -x /bin/busybox ] || die "/bin/busybox missing (make deps: busybox-static)"
KERNEL=$(ls -1v /boot/vmlinuz-*-amd64 2>/dev/null | tail -n 1)
[ -n "$KERNEL" ] || die "no /boot/vmlinuz-*-amd64 (make deps: linux-image-amd64)"
KVER=${KERNEL#/boot/vmlinuz-}
[ -d "/lib/modules/$KVER" ] || die "/lib/modules/$KVER missing"
# The guest puts tmpfs on these; a checkout or build dir below one is carried over (stage 1).
keep=""
for dir in "$SOURCE" "$BUILD"; do
  case "$dir" in
    "$SOURCE"/*) ;;  # a build dir inside the checkout comes with it
    /tmp/* | /var/tmp/* | /run/* | /root/* | /home/*) keep="$keep $dir" ;;
  esac
done
case "$SOURCE$BUILD" in *" "*) die "paths with spaces are not supported: $SOURCE $BUILD" ;; esac

WORK=$(mktemp -d /var/tmp/bulkhead-vm.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
RESULTS=$WORK/results
mkdir -m 1777 "$RESULTS"

# Scratch disk: ext4 for the guest's /tmp, /var/tmp, /root and /home. tmpfs takes idmapped
# mounts only from Linux 6.3 and 9p never, so on tmpfs the sandbox would fall back from its
# root identity model; ext4 (5.12) keeps the model the host runs under.
truncate -s 8G "$WORK/scratch.img"
mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1 "$WORK/scratch.img"

# Initramfs: busybox, the modules for virtio-pci, 9p, virtio-blk and ext4 (dependencies first,
# as modprobe orders them), and stage 1.
INITRAMFS=$WORK/initramfs
mkdir -p "$INITRAMFS"/{bin,proc,sys,dev,modules,newroot}
cp /bin/busybox "$INITRAMFS/bin/busybox"
: >"$INITRAMFS/modules/order"
for module in virtio_pci 9pnet_virtio 9p virtio_blk ext4; do
  modprobe --show-depends -S "$KVER" "$module" | awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' | while read -r path; do
  name=$(basename "$path")
  case "$name" in
    *.ko.xz) xz -dc "$path" >"$INITRAMFS/modules/${name%.xz}"; name=${name%.xz} ;;
    *.ko.zst) zstd -qdc "$path" >"$INITRAMFS/modules/${name%.zst}"; name=${name%.zst} ;;
    *) cp "$path" "$INITRAMFS/modules/$name" ;;
  esac
  echo "$name" >>"$INITRAMFS/modules/order"
done
sed -e "s|@STAGE2@|$SOURCE/tests/vm/guest.sh|" -e "s|@SOURCE@|$SOURCE $BUILD|" -e "s|@KEEP@|$keep|g" \
  "$SOURCE/tests/vm/initramfs-init.sh" >"$INITRAMFS/init"
chmod 755 "$INITRAMFS/init"
(cd "$INITRAMFS" && find . | cpio -o -H newc --quiet | gzip -1) >"$WORK/initramfs.gz"

echo "== test-cgroup2: booting $KERNEL under qemu (TCG), timeout ${TIMEOUT_S}s"
started=$(date +%s)
set +e
timeout --kill-after=10 "$TIMEOUT_S" qemu-system-x86_64 \
  -accel tcg,thread=multi -cpu max -smp 2 -m 3G \
  -kernel "$KERNEL" -initrd "$WORK/initramfs.gz" \
  -append "console=ttyS0 quiet loglevel=4 cgroup_no_v1=all panic=-1 bulkhead.only=${BULKHEAD_VM_ONLY:-all} bulkhead.debug=${BULKHEAD_VM_DEBUG:-}" \
  -display none -monitor none -serial stdio -nic none -no-reboot \
  -drive "file=$WORK/scratch.img,format=raw,if=virtio,cache=unsafe" \
  -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
  -virtfs "local,path=$RESULTS,mount_tag=results,security_model=none" \
  </dev/null | tee "$WORK/console.log"
qemu_status=${PIPESTATUS[0]}
set -e
elapsed=$(($(date +%s) - started))
echo "== test-cgroup2: VM ran ${elapsed}s (qemu status $qemu_status)"
if [ "$qemu_status" -eq 124 ] || [ "$qemu_status" -eq 137 ] || [ "$elapsed" -ge "$TIMEOUT_S" ]; then
  die "the VM did not finish within ${TIMEOUT_S}s"
fi
[ -f "$RESULTS/done" ] || die "the VM stopped before stage 2 finished (see the console above)"
[ -z "${BULKHEAD_VM_DEBUG:-}" ] || exit 0
/usr/bin/python3 "$SOURCE/tests/vm/report.py" "$RESULTS"
