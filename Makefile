# Docker Internals Lab. The README's two commands are `sudo make lab` and `sudo make test`.
SHELL := /bin/bash
# The system Python, not a per-user one: the unprivileged pass runs the venv as nobody.
PYTHON ?= /usr/bin/python3
VENV := .venv
PY := $(VENV)/bin/python
NSEXEC := labcore/kernel/nsexec
HOST := 127.0.0.1
PORT ?= 8888
# What JupyterLab serves; tests/browser points it at a temporary copy, so autosave never writes the checkout.
NOTEBOOK_DIR ?= notebooks
NOTEBOOKS ?= $(shell find notebooks -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' 2>/dev/null | sort)

.PHONY: lab test notebooks test-notebooks bench conformance provision setup kernel clean cleanup
.PHONY: test-vm vagrant-validate

## provision: system packages (apt), idempotent
provision:
	@bash provision/provision.sh

# The venv is rebuilt when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	@test -x $(PYTHON) || { echo "$(PYTHON) missing: run make provision as root" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[lab,test]'
	@touch $@

## setup: provision, the venv with labcore and its extras, the spawn helper, the lab kernelspec
setup: provision $(VENV)/.installed $(NSEXEC) kernel bytecode

# labcore's fast way into namespaces (see the comment at the top of nsexec.c);
# without it, labcore forks Python instead, about twice as slow.
$(NSEXEC): $(NSEXEC).c
	@command -v cc >/dev/null || { echo "cc missing: run make provision as root (it installs gcc)" >&2; exit 1; }
	cc -O2 -Wall -Wextra -Werror -o $@ $<

# Every `labcore runtime` verb and every shim is a new Python process: labcore's modules are compiled here,
# once, rather than at each start (where PYTHONDONTWRITEBYTECODE is set, no process would ever cache them).
# compileall rewrites only the files changed since; a file edited later is compiled at import, correctly, until then.
.PHONY: bytecode
bytecode: $(VENV)/.installed
	@$(PY) -m compileall -q labcore >/dev/null

kernel: $(VENV)/.installed
	@$(PY) -m labcore install-kernel

## lab: start JupyterLab on 127.0.0.1:$(PORT) with token authentication
# The token travels in the environment (JUPYTER_TOKEN, read by jupyter_server), never on a
# command line: every local user can read /proc/PID/cmdline, only the owner /proc/PID/environ.
lab: setup
	@$(PY) -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); \
	  s.bind(("$(HOST)", $(PORT)))' 2>/dev/null || { echo "port $(PORT) on $(HOST) is taken: stop what uses it (ss -ltnp 'sport = :$(PORT)') or run make lab PORT=8899" >&2; exit 1; }
	@JUPYTER_TOKEN=$$($(PY) -c 'import secrets; print(secrets.token_hex(24))'); export JUPYTER_TOKEN; \
	echo; echo "  Docker Internals Lab: open http://$(HOST):$(PORT)/lab?token=$$JUPYTER_TOKEN"; echo; \
	exec $(VENV)/bin/jupyter lab --no-browser --allow-root --ip=$(HOST) --port=$(PORT) \
	  --ServerApp.port_retries=0 \
	  --ServerApp.root_dir=$(NOTEBOOK_DIR) --MultiKernelManager.default_kernel_name=labcore

## test: everything CI runs: unit, integration, nbval, unprivileged pass, leak check
test: setup
	$(PY) tests/suite.py

## notebooks: re-execute every notebook in place, so stored outputs come from a real run
notebooks: setup
	$(PY) tools/execute_notebooks.py --inplace $(NOTEBOOKS)

## test-notebooks: nbval on every notebook, or on NOTEBOOKS="..."
test-notebooks: setup
	$(PY) tests/suite.py nbval $(NOTEBOOKS)

## conformance: the OCI validation suite against labcore's runtime and runc, side by side (tools/conformance.py)
conformance: setup
	$(PY) tools/conformance.py

## bench: side-by-side measurements, one `name: value` per line
bench: setup
	$(PY) bench/run.py

## test-vm: boot a Debian cgroup v2 VM with QEMU; inside, the cgroup v2 tests and nbval on the cgroup-dependent notebooks
test-vm: setup
	@bash provision/maintainer.sh
	$(PY) tools/test-vm/testvm.py

## notebooks-vm: re-execute every notebook (or NOTEBOOKS="...") in place inside the cgroup v2 test VM, copy them back into notebooks/
.PHONY: notebooks-vm
notebooks-vm: setup
	@bash provision/maintainer.sh
	$(PY) tools/test-vm/testvm.py --execute-notebooks $(if $(filter command line environment,$(origin NOTEBOOKS)),--notebooks "$(NOTEBOOKS)")

## vagrant-validate: check the Vagrantfile (vagrant up needs VirtualBox or libvirt, which CI lacks)
vagrant-validate:
	@bash provision/maintainer.sh
	vagrant validate

## cleanup: undo whatever a crashed notebook left (mounts, namespaces, processes...)
cleanup:
	$(PY) -m labcore cleanup

clean:
	rm -rf $(VENV) *.egg-info $(NSEXEC)
