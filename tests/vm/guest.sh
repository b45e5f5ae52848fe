#!/bin/bash
# Stage 2 of the cgroup v2 VM, PID 1 in the host's tree (shared read-only over 9p, an ext4
# scratch disk on /tmp /var/tmp /root /home, tmpfs on /run). Mounts a pure cgroup2 hierarchy the way systemd does, lays out a
# root "system.slice" and a delegated "user@65534.service" (Delegate=yes: the user owns the
# directory, cgroup.procs, cgroup.subtree_control, cgroup.threads), and runs the phases:
#   root      integration + VM tests as root, each bulkhead in a scope of its own
#   user      the same as uid 65534 inside the delegated subtree
#   nouserns  user.max_user_namespaces=0: the degraded rootless runs
# Each phase writes <phase>.xml (JUnit) to /run/results; "done" lists phases and exit codes.
SOURCE=$1
BUILD=$2
RESULTS=/run/results
CG=/sys/fs/cgroup
USER_SERVICE=$CG/user.slice/user-65534.slice/user@65534.service
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
export HOME=/root PYTHONDONTWRITEBYTECODE=1
ONLY=$(sed -n 's/.*bulkhead\.only=\([^ ]*\).*/\1/p' /proc/cmdline)

wanted() { [ "$ONLY" = all ] || [[ ",$ONLY," == *",$1,"* ]]; }

# Runs pytest as `uid` inside cgroup `cgroup`; bulkhead runs get scopes under `scopes`.
run_phase() {
  local phase=$1 uid=$2 cgroup=$3 scopes=$4
  shift 4
  local home=/home/phase-$phase
  mkdir -p "$home"
  chown "$uid:$uid" "$home"
  echo "== phase $phase: uid $uid in ${cgroup#$CG}, scopes under ${scopes#$CG}"
  local start=$SECONDS
  (
    echo "$BASHPID" >"$cgroup/cgroup.procs" || exit 90
    cd "$home" || exit 91
    exec setpriv --reuid="$uid" --regid="$uid" --clear-groups \
      env HOME="$home" USER="phase-$phase" BULKHEAD_VM_SCOPES="$scopes" \
      BULKHEAD="$SOURCE/tests/vm/scope" BULKHEAD_VM_REAL="$BUILD/bin/bulkhead" \
      BULKHEAD_BUILD_DIR="$BUILD" BULKHEAD_SOURCE_DIR="$SOURCE" BULKHEAD_VM_PHASE="$phase" \
      /usr/bin/python3 -m pytest -v -rs -p no:cacheprovider -p no:randomly -p no:random_order \
      -p timeout --timeout 900 --rootdir "$SOURCE" -o junit_family=xunit1 \
      --junitxml "$RESULTS/$phase.xml" "$@"
  )
  local status=$?
  echo "== phase $phase: exit $status in $((SECONDS - start))s"
  echo "$phase $status" >>"$RESULTS/done.tmp"
  # What the runs left: empty scopes are expected (systemd removes them), nothing else.
  find "$scopes" -mindepth 1 -maxdepth 1 -type d -name 'run-*.scope' -exec rmdir {} + 2>/dev/null
}

stage2() {
  mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 $CG || return 1
  ip link set lo up
  hostname bulkhead-vm
  echo "== guest: Linux $(uname -r), cgroup2 controllers: $(cat $CG/cgroup.controllers)"
  echo "+cpu +memory +pids +io" >$CG/cgroup.subtree_control
  # Root: the harness in a service of its own, bulkhead runs in scopes beside it.
  mkdir -p $CG/system.slice/harness.service $CG/system.slice/bulkhead-tests
  echo "+cpu +memory +pids" >$CG/system.slice/cgroup.subtree_control
  echo "+cpu +memory +pids" >$CG/system.slice/bulkhead-tests/cgroup.subtree_control
  # The user's delegated subtree (what systemd's user@.service with Delegate=yes gets).
  mkdir -p "$USER_SERVICE"
  echo "+cpu +memory +pids" >$CG/user.slice/cgroup.subtree_control
  echo "+cpu +memory +pids" >$CG/user.slice/user-65534.slice/cgroup.subtree_control
  chown 65534:65534 "$USER_SERVICE" "$USER_SERVICE"/cgroup.{procs,subtree_control,threads}
  # As the user (the user manager's job): a leaf for the harness, a slice for the runs.
  setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "
    mkdir $USER_SERVICE/harness.scope $USER_SERVICE/app.slice &&
    echo '+cpu +memory +pids' > $USER_SERVICE/cgroup.subtree_control &&
    echo '+cpu +memory +pids' > $USER_SERVICE/app.slice/cgroup.subtree_control" || return 1

  local integration=$SOURCE/tests/integration
  local debug
  debug=$(sed -n 's/.*bulkhead\.debug=\([^ ]*\).*/\1/p' /proc/cmdline)
  if [ -n "$debug" ]; then  # BULKHEAD_VM_DEBUG=script: run it as root, no phases
    (echo "$BASHPID" >$CG/system.slice/harness.service/cgroup.procs && cd /root &&
      BULKHEAD_VM_SCOPES=$CG/system.slice/bulkhead-tests BULKHEAD=$SOURCE/tests/vm/scope \
        BULKHEAD_VM_REAL=$BUILD/bin/bulkhead USER_SERVICE=$USER_SERVICE bash -x "$debug")
    echo "debug $?" >"$RESULTS/done"
    return
  fi
  # The sandbox tests, the degraded modes, and the VM's own v2 tests (among them `bulkhead
  # run` on the fault suite with deadlines sized for TCG; test_run_faults.py's 2-3 s deadlines
  # assume a native CPU), each bulkhead run in a scope of its own (tests/vm/scope).
  if wanted root; then
    run_phase root 0 $CG/system.slice/harness.service $CG/system.slice/bulkhead-tests \
      $integration/test_sandbox.py $integration/test_degraded.py $SOURCE/tests/vm
  fi
  if wanted user; then
    run_phase user 65534 "$USER_SERVICE/harness.scope" "$USER_SERVICE/app.slice" \
      $integration/test_sandbox.py $SOURCE/tests/vm
  fi
  # Last, since it cannot be undone: unprivileged user namespaces off, degraded runs as uid
  # 65534 started by root (tests/integration/test_degraded.py, the (a) tests).
  if wanted nouserns; then
    sysctl -q -w user.max_user_namespaces=0 || return 1
    run_phase nouserns 0 $CG/system.slice/harness.service $CG/system.slice/bulkhead-tests \
      $integration/test_degraded.py -k userns_off
  fi
  mv "$RESULTS/done.tmp" "$RESULTS/done"
}

stage2 &
main=$!
# PID 1: reap everything until stage 2 ends, then power off.
while kill -0 $main 2>/dev/null; do wait $main; done
sync
echo o >/proc/sysrq-trigger
read -r -t 30 _ </dev/zero || true
