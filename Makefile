# nativesnap — set-up, run and test on a Debian 12 host (as root).
#   make run    install everything, sync the database, serve on 127.0.0.1:8779
#   make run-cluster  the same as nativesnap-api (2 workers) + nativesnap-compute over RabbitMQ
#               and PostgreSQL, in the foreground; Ctrl-C stops both (docs/deployment.md)
#   make test   install everything, start libvirtd, PostgreSQL, RabbitMQ and a one-node Ceph, run all tests
#   make demo   the same set-up, then watch snapshots of a real TCG guest (tools/demo)
# The set-up is idempotent: a second run only does what is missing.

SHELL := /bin/bash
VENV ?= .venv
# Debian's python3, with its site-packages visible: the libvirt and Ceph bindings
# come from Debian packages built for it.
HOST_PYTHON ?= /usr/bin/python3
PIP := $(VENV)/bin/pip
PYTEST_ARGS ?=
# pytest-xdist workers of the parallel pass of `make test` (auto: one per CPU)
TEST_WORKERS ?= auto
# e.g. DEMO_ARGS='--url http://127.0.0.1:8779' to use the service of `make run`
DEMO_ARGS ?=

.PHONY: all setup host venv run run-cluster test test-unit sample-config sample-policy demo bench-api clean fuzz soak

all: test

host:
	tools/setup-host

$(VENV)/.installed: setup.cfg pyproject.toml constraints.txt
	test -x $(VENV)/bin/python || $(HOST_PYTHON) -m venv --system-site-packages $(VENV)
	$(PIP) install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $@

venv: $(VENV)/.installed

setup: host venv

run: setup
	tools/start-libvirtd
	$(VENV)/bin/nativesnap-manage db sync
	exec $(VENV)/bin/nativesnap-api

# The API and one compute service as separate processes (docs/deployment.md):
# configs in /var/lib/nativesnap-cluster, both logs in the foreground.
run-cluster: setup
	VENV=$(VENV) exec tools/run-cluster

# Two passes (README.md, "Tests"): the tests that share no real part on every CPU at once,
# then the rest one at a time. Both always run; the target fails if either failed.
test: setup
	tools/start-libvirtd
	pg=$$(tools/start-postgresql) && rabbit=$$(tools/start-rabbitmq) && ceph=$$(tools/start-ceph) && \
	export NATIVESNAP_TEST_PG_URL="$$pg" NATIVESNAP_TEST_RABBIT_URL="$$rabbit" \
	       NATIVESNAP_TEST_CEPH_CONF="$$ceph" && \
	{ $(VENV)/bin/pytest -m parallel -n $(TEST_WORKERS) --dist loadfile --durations=15 $(PYTEST_ARGS); \
	  parallel=$$?; \
	  $(VENV)/bin/pytest -m "not parallel" --durations=30 $(PYTEST_ARGS); \
	  serial=$$?; \
	  test $$parallel -eq 0 && test $$serial -eq 0; }

demo: setup
	tools/start-libvirtd
	$(VENV)/bin/python tools/demo $(DEMO_ARGS)

# The full fuzz run of the API (docs/reliability.md): schemathesis against a real
# nativesnap-api on sqlite and PostgreSQL, FUZZ_EXAMPLES (default 300) cases per
# operation and generation mode; a JSON report per database in build/fuzz/.
fuzz: setup
	NATIVESNAP_TEST_PG_URL="$$(tools/start-postgresql)" \
	NATIVESNAP_FUZZ_EXAMPLES="$${FUZZ_EXAMPLES:-300}" NATIVESNAP_FUZZ_REPORT=build/fuzz \
	$(VENV)/bin/pytest tests/functional/test_fuzz_api.py --timeout=7200 -s $(PYTEST_ARGS)

# The full soak of the libvirt driver (docs/reliability.md): SOAK_CYCLES (200)
# snapshot create/delete cycles and SOAK_REVERTS (50) revert cycles on one TCG
# guest, checked inside the guest; figures printed and written to build/soak/.
soak: setup
	tools/start-libvirtd
	NATIVESNAP_SOAK_CYCLES="$${SOAK_CYCLES:-200}" NATIVESNAP_SOAK_REVERTS="$${SOAK_REVERTS:-50}" \
	NATIVESNAP_SOAK_REPORT=build/soak/soak.json \
	$(VENV)/bin/pytest tests/functional/test_libvirt_soak.py --timeout=7200 -s $(PYTEST_ARGS)

test-unit: venv
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

sample-config: venv
	$(VENV)/bin/oslo-config-generator --config-file etc/nativesnap/nativesnap-config-generator.conf

# The policy rules' defaults in code, documented (docs/policy.md).
sample-policy: venv
	$(VENV)/bin/oslopolicy-sample-generator --config-file etc/nativesnap/nativesnap-policy-generator.conf

bench-api: venv
	$(VENV)/bin/python bench/api

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
