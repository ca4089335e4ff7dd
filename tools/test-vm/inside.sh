#!/bin/bash
# Runs inside the test VM, as root, started by lab-test-vm.service once systemd
# has brought the machine up. Its output is the VM's serial console, which
# `make test-vm` streams on the host. The results go back on the second disk
# (/dev/vdb) as a tar archive: "status" (0 = every step passed), "summary",
# and each step's log; with EXECUTE (testvm.py --execute-notebooks, make
# notebooks-vm) also "executed", the notebooks that ran to the end, and each of
# them under notebooks/. Then the VM powers off.
set -u
cd /opt/lab
export LABCORE_STATE_DIR=/run/labcore HOME=/root LANG=C.UTF-8
out=/run/lab-results
mkdir -p "$out"
PY=.venv/bin/python
status=0
summary=()

step() {    # step NAME COMMAND...: run it, keep its log, remember PASS or FAIL
    local name=$1; shift
    echo; echo "===== $name ====="
    local start=$SECONDS
    "$@" 2>&1 | tee "$out/$name.log"
    local rc=${PIPESTATUS[0]}
    [ "$rc" -eq 0 ] || status=1
    summary+=("$([ "$rc" -eq 0 ] && echo PASS || echo FAIL)  $name ($((SECONDS - start)) s, exit $rc)")
}

echo "===== the test VM ====="
echo "kernel: $(uname -r); PID 1: $(cat /proc/1/comm) ($(systemctl --version | head -1))"
echo "cgroup2 mount: $(findmnt -n -t cgroup2 -o TARGET,FSTYPE,OPTIONS)"
echo "controllers at the root (cgroup.controllers): $(cat /sys/fs/cgroup/cgroup.controllers)"
echo "enabled for children (cgroup.subtree_control): $(cat /sys/fs/cgroup/cgroup.subtree_control)"
echo "network devices: $(ls /sys/class/net | tr '\n' ' ')(a NIC plugged into nothing)"
NOTEBOOKS= COMMAND= EXECUTE=
. ./.test-vm.env 2>/dev/null || true   # testvm.py --notebooks / --command / --execute-notebooks, for this run only
# matplotlib builds its font cache on first import and says so on stderr: once here, not in a notebook's output.
"$PY" -c 'import matplotlib.pyplot' >/dev/null 2>&1 || true
if [ -n "$COMMAND" ]; then
    step command bash -c "$COMMAND"
elif [ -n "$EXECUTE" ]; then
    step doctor "$PY" -m labcore doctor
    # Every notebook (or those given) executed in place, cell by cell, with the lab kernel as root: the
    # outputs the course ships come from this machine. Those that ran to the end go back to the host.
    [ -n "$NOTEBOOKS" ] || NOTEBOOKS=$(find notebooks -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort)
    : > "$out/executed"
    # shellcheck disable=SC2086  # one word per notebook, as for nbval below
    step execute-notebooks "$PY" tools/execute_notebooks.py --inplace --done "$out/executed" $NOTEBOOKS
    while IFS= read -r nb; do
        [ -n "$nb" ] && cp --parents -- "$nb" "$out/"
    done < "$out/executed"
    echo "executed to the end, going back to the host: $(wc -l < "$out/executed") notebook(s)"
else
    step doctor "$PY" -m labcore doctor
    # The cgroup v2 tests: every test marked needs("cgroup_v2"), none may be skipped here.
    step cgroup-v2-tests env PYTHONPATH=tools/test-vm "$PY" -m pytest -p cgroup_v2_only -v tests/unit tests/integration
    # nbval on every notebook (or those given). -vv outweighs the suite's -q: one line per cell, so the
    # console shows progress; --durations names the slowest cells.
    step notebooks env PYTEST_ADDOPTS="-vv --durations=8" "$PY" tests/suite.py nbval $NOTEBOOKS
fi

{
    echo "===== test VM summary ====="
    printf '%s\n' "${summary[@]}"
} | tee "$out/summary"
echo "$status" > "$out/status"
if tar -C "$out" -cf /dev/vdb . && sync; then
    echo "test VM: results written to /dev/vdb, powering off"
else
    echo "test VM: writing the results to /dev/vdb failed (too large for the disk?), powering off"
fi
systemctl poweroff --no-block 2>/dev/null || poweroff --force  # no D-Bus in the image: systemctl falls back to its private socket
