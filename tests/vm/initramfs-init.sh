#!/bin/busybox sh
# Stage 1 of the cgroup v2 VM (PID 1 in the initramfs): load the virtio and 9p modules, mount
# the host's / read-only over virtio-9p, give it writable tmpfs where a Debian system writes,
# mount the results share, and switch into the host's tree to run stage 2 (tests/vm/guest.sh).
# @STAGE2@, @SOURCE@ and @KEEP@ are filled in by tests/vm/run-vm.sh.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() { echo "BULKHEAD-VM-STAGE1-FAILED: $*"; echo o > /proc/sysrq-trigger; sleep 60; }
for module in $(cat /modules/order); do
  insmod "/modules/$module" || fail "insmod $module"
done
mkdir -p /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /newroot \
  || fail "mount the host's / over 9p"
# The checkout and build dirs stay visible even when they live under one of those tmpfs dirs
# (a CI clone under /tmp): held aside, then moved back on top.
i=0
for keep in @KEEP@; do
  mkdir -p "/keep/$i" && mount --bind "/newroot$keep" "/keep/$i" || fail "hold $keep"
  i=$((i + 1))
done
for dir in tmp var/tmp run root home; do
  [ -d "/newroot/$dir" ] && mount -t tmpfs -o mode=1777 tmpfs "/newroot/$dir"
done
i=0
for keep in @KEEP@; do
  mkdir -p "/newroot$keep" && mount --move "/keep/$i" "/newroot$keep" || fail "restore $keep"
  i=$((i + 1))
done
chmod 0700 /newroot/root
mkdir -p /newroot/run/results
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 results /newroot/run/results \
  || fail "mount the results share"
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
mount --move /dev /newroot/dev
exec switch_root /newroot /bin/bash @STAGE2@ @SOURCE@
