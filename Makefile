# hvballoond: every target creates .venv and installs what it needs by itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Where `make run` listens (see README "Quick start").
RUN_DIR ?= $(CURDIR)/run
# Where `make interop` leaves virsh's outputs of each run (compared at the end).
LIBVIRT_RESULTS ?= /tmp/hvb-libvirt-results

.PHONY: all venv run test test-fast lint typecheck schema bench bench-quick oracle interop check golden-update clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	mkdir -p $(RUN_DIR)
	$(BIN)/hvballoond --run-dir $(RUN_DIR)

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check hvballoond tests benchmarks tools
	$(BIN)/mypy

typecheck: $(STAMP)
	$(BIN)/mypy

schema: $(STAMP)
	$(BIN)/python -m hvballoond.qapi schema/hvballoond.json -o hvballoond/qapi/generated

golden-update: $(STAMP)
	HVB_UPDATE_GOLDEN=1 $(BIN)/python -m pytest -q tests/transcripts tests/qapi

bench: $(STAMP)
	$(BIN)/python -m benchmarks

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks --quick

oracle: $(STAMP)
	$(BIN)/python -m tests.oracle.record_corpus

# The libvirt suite against hvballoond (without and with its simulated guest), then against
# the real QEMU 10.0.2 without a guest, whose virsh outputs and live XML must be the same.
interop: $(STAMP)
	HVB_LIBVIRT_RESULTS=$(LIBVIRT_RESULTS) bash tests/interop/libvirt/run.sh --no-guest
	HVB_LIBVIRT_RESULTS=$(LIBVIRT_RESULTS) bash tests/interop/libvirt/run.sh
	HVB_LIBVIRT_RESULTS=$(LIBVIRT_RESULTS) bash tests/interop/libvirt/run.sh --emulator qemu --no-guest
	$(BIN)/python -m tests.interop.libvirt.compare \
	    $(LIBVIRT_RESULTS)/virsh-qemu-no-guest.json $(LIBVIRT_RESULTS)/virsh-hvballoond-no-guest.json

check: lint test

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
