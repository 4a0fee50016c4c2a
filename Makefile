# mdcluster — build, test and the real-kernel VM lab. `make help` lists the targets.
SHELL        := /bin/bash
GO           ?= go
export CGO_ENABLED := 0
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS      := -s -w -X mdcluster.dev/internal/buildinfo.Version=$(VERSION)
BINARIES     := mdclusterd mdcadm mdlab dlmprobe
STATICCHECK  := $(shell $(GO) env GOPATH)/bin/staticcheck
STATICCHECK_VERSION := v0.8.2
VM_COUNT     ?= 1
VM_RUN       ?= .
# Scenarios `make test-vm` runs but `make test` (CI: under 45 minutes on 2 cores) leaves out: the
# Debian guests' longer ones. CI keeps the boot and the cold boot of three nodes (coexistence
# with udev and mdadm's rules: scenarios (a) and (b)).
VM_SKIP      ?=
CI_VM_SKIP   := TestDebian(Lifecycle|OperatorGuide|Doctor|Failover)$$
FUZZTIME     ?= 30s
# The fault campaign: SEED (default: a random one, printed), ROUNDS and/or DURATION (a time box
# for the whole campaign), FAULTS_OUT (histories and report.json; default a new directory).
SEED         ?= 0
ROUNDS       ?=
DURATION     ?=
FAULTS_OUT   ?=
FAULTS_CI_DURATION ?= 4m
export MDCLUSTER_LAB ?= $(CURDIR)/.lab

.PHONY: all help build cmapshim guest-tests lab test test-unit model test-vm demo lint bench bench-vm fuzz clean faults faults-ci

all: build

help:
	@echo "build      static binaries in bin/ ($(BINARIES))"
	@echo "lab        prepare the VM lab: host packages, Debian kernel, initramfs (in $(MDCLUSTER_LAB))"
	@echo "test       unit tests, then the VM suite on the real kernel"
	@echo "test-unit  go test ./... (no VMs)"
	@echo "model      check the protocol models with spin (scripts/model)"
	@echo "test-vm    the VM suite (VM_COUNT=5 repeats it, VM_RUN=regexp selects scenarios, VM_SKIP=regexp leaves some out)"
	@echo "demo       boot the 2-VM cluster and narrate the clustered RAID1 scenario"
	@echo "lint       gofmt check, go vet, staticcheck"
	@echo "bench      benchmarks"
	@echo "bench-vm   the figures on the real kernel (resync after a crash, throughput with/without the agent, footprint)"
	@echo "faults     the fault campaign: make faults SEED=n ROUNDS=n [DURATION=10m] [FAULTS_OUT=dir]"
	@echo "faults-ci  the campaign time-boxed to $(FAULTS_CI_DURATION) with a random seed (part of make test)"
	@echo "fuzz       short fuzz runs of every fuzz target (FUZZTIME=$(FUZZTIME) each)"

build:
	@mkdir -p bin
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/mdclusterd ./cmd/mdcadm ./scripts/vm/mdlab ./scripts/vm/dlmprobe

# mdadm's libcmap.so.4 shim (C, built with gcc; see scripts/cmapshim/cmapshim.c): it goes in a
# private directory that only mdcadm puts on mdadm's LD_LIBRARY_PATH.
cmapshim:
	@mkdir -p bin/cmapshim
	gcc -shared -fPIC -O2 -Wall -o bin/cmapshim/libcmap.so.4 scripts/cmapshim/cmapshim.c

# Guest tests: test files tagged `vmguest` run inside a lab guest on the real kernel. Each package
# that has them is compiled to a static test binary that the initramfs carries under /lab/tests.
GUEST_TEST_DIRS = $(sort $(dir $(shell grep -rl --include='*_test.go' '^//go:build vmguest' . 2>/dev/null)))

guest-tests:
	@rm -rf $(MDCLUSTER_LAB)/guest-tests; mkdir -p $(MDCLUSTER_LAB)/guest-tests
	@for d in $(GUEST_TEST_DIRS); do \
	  name=$$(echo "$${d#./}" | sed 's:/$$::; s:/:-:g'); \
	  echo "guest test binary $$name"; \
	  $(GO) test -c -tags vmguest -trimpath -o $(MDCLUSTER_LAB)/guest-tests/$$name.test $$d || exit 1; \
	done

# The lab is rebuilt when the binaries or guest scripts change; setup-host.sh is idempotent.
lab: build guest-tests
	scripts/vm/setup-host.sh
	scripts/vm/build-initramfs.sh

# The lab first: it also installs the host tools some unit tests run (promtool, ocf-tester).
test: lab lab-ha lab-debian test-unit model test-ocf test-packaging
	$(MAKE) --no-print-directory test-vm VM_SKIP='$(CI_VM_SKIP)'
	$(MAKE) --no-print-directory faults-ci

# The models run in their own target (make test runs both): MDCLUSTER_MODEL=0 skips them here.
test-unit:
	MDCLUSTER_MODEL=0 $(GO) test -count=1 ./...

# The Promela models (scripts/model/README.md): spin must verify them, refute every mutant and
# replay each trail; the parameters must match the Go constants. Fails when spin is missing.
model:
	MDCLUSTER_MODEL=1 $(GO) test -count=1 -timeout 20m -v ./scripts/model/...

test-vm: lab lab-ha lab-debian
	$(GO) test -tags vm -p 1 -count=$(VM_COUNT) -timeout 150m -v -run '$(VM_RUN)' -skip '$(VM_SKIP)' ./internal/vmlab/scenario/ ./scripts/vm/capture-md/

demo: lab
	@bin/mdlab demo

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags vm ./...
	$(GO) vet -tags vmguest ./...
	$(GO) vet -tags ocf ./scripts/ocf/
	$(GO) vet -tags packaging ./scripts/man/ ./scripts/packaging/
	@[ -x $(STATICCHECK) ] || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags vm ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

bench-vm: lab
	bin/mdlab bench

# Without ROUNDS or DURATION the campaign runs 10 rounds.
faults: lab
	bin/mdlab faults -seed $(SEED) -rounds $(or $(ROUNDS),$(if $(DURATION),0,10)) $(if $(DURATION),-duration $(DURATION)) $(if $(FAULTS_OUT),-out $(FAULTS_OUT))

faults-ci: lab
	bin/mdlab faults -seed $(SEED) -duration $(FAULTS_CI_DURATION) $(if $(FAULTS_OUT),-out $(FAULTS_OUT))

fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin
include packaging.mk
