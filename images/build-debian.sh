#!/bin/sh
# Builds a minimal Debian root filesystem with python3 and pytest, from Debian's own packages
# (mmdebstrap, the mirror this machine's apt uses), for `bulkhead run --image dir:PATH`.
# Usage: images/build-debian.sh OUT_DIR [SUITE]     (make image)
# Extra packages: BULKHEAD_IMAGE_PACKAGES="python3-requests python3-psycopg2" images/build-debian.sh ...
set -eu
OUT=${1:?usage: images/build-debian.sh OUT_DIR [SUITE]}
SUITE=${2:-bookworm}
MIRROR=${BULKHEAD_IMAGE_MIRROR:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
PACKAGES="python3,python3-pytest${BULKHEAD_IMAGE_PACKAGES:+,$(echo "$BULKHEAD_IMAGE_PACKAGES" | tr ' ' ',')}"
command -v mmdebstrap >/dev/null || { echo "mmdebstrap missing (make deps)" >&2; exit 1; }
if [ -e "$OUT" ]; then
  echo "$OUT exists; remove it first" >&2
  exit 1
fi
# mmdebstrap resolves OUT to an absolute path, which needs its parent to exist.
mkdir -p "$(dirname "$OUT")"
# minbase: essential packages and apt only; no documentation or man pages.
mmdebstrap --variant=minbase --include="$PACKAGES" \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  "$SUITE" "$OUT" "$MIRROR"
# Stamp what it is, for `bulkhead run`'s header and for humans.
echo "debian $SUITE minbase + $PACKAGES ($(date -u +%Y-%m-%d))" >"$OUT/etc/bulkhead-image"
echo "built $OUT: $(du -sh "$OUT" | cut -f1)"
