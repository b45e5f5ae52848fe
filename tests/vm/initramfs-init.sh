#!/bin/busybox sh
# Stage 1 of the cgroup v2 VM (PID 1 in the initramfs): load the virtio, 9p and ext4 modules,
# mount the host's / read-only over virtio-9p, give it writable dirs where a Debian system writes
# (the ext4 scratch disk; /run on tmpfs),
# mount the results share, and switch into the host's tree to run stage 2 (tests/vm/guest.sh).
# @STAGE2@, @SOURCE@ and @KEEP@ are filled in by tests/vm/run-vm.sh.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() { echo "BULKHEAD-VM-STAGE1-FAILED: $*"; echo o > /proc/sysrq-trigger; sleep 60; }
for module in $(cat /modules/order); do
  # crc32c-intel needs SSE4.2, which an emulated CPU may lack; crc32c_generic stands in.
  insmod "/modules/$module" || [ "$module" = crc32c-intel.ko ] || fail "insmod $module"
done
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 0.2; done
mkdir -p /scratch
mount -t ext4 /dev/vda /scratch || fail "mount the scratch disk"

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
# /run is tmpfs as on Debian; the rest on the ext4 scratch disk (see run-vm.sh).
mount -t tmpfs -o mode=1777 tmpfs /newroot/run
for dir in tmp var/tmp root home; do
  [ -d "/newroot/$dir" ] || continue
  mkdir -p "/scratch/$dir" && chmod 1777 "/scratch/$dir"
  mount --bind "/scratch/$dir" "/newroot/$dir" || fail "bind /scratch/$dir"
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
