# tffs — two set-up commands on a fresh Debian machine, as root:
#   make demo   install what is needed, build, start an embedded location, run the hello example
#   make test   install what is needed and run the whole test suite
GO       ?= go
BIN      := bin/tffs
DEMO_DIR ?= /tmp/tffs-demo
# What `make deps` installs with apt-get when missing: the C toolchain cgo needs for libzmq (gcc,
# libc6-dev, pkg-config, libzmq3-dev), the container runtime (containerd, runc), FUSE (fuse3), the test
# image's busybox, network and storage tools the node and tests use, and the tools the tests drive.
PKGS     := make gcc libc6-dev pkg-config ca-certificates libzmq3-dev containerd runc fuse3 busybox-static \
            iproute2 nftables btrfs-progs python3 tmux psmisc procps \
            git rsync tar openssh-client docker.io curl
export CGO_ENABLED := 1
# The integration tests run again under the race detector: those that drive
# the concurrent paths (delivery across cuts, cancellation, restarts, the
# soak, tunnels, the mount's streams and files, volumes); the whole suite
# under -race takes longer than CI gives.
RACE_TESTS := Delivery|Soak|Cancel|Restart|Killed|Callbacks|Tunnel|NetIsolation|Volumes$$|FSPosix|MountStdout|MountWriteBehind|Endpoints$$|RunCommandTTY

.PHONY: deps build test unit bench soak demo clean busybox-image fresh

deps:
	@missing=""; for p in $(PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing with apt-get:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "make deps: all of $(PKGS) installed"; fi
	$(GO) mod download

build: deps
	$(GO) build -o $(BIN) ./cmd/tffs

# The whole suite: unit tests, integration tests on real containerd/runc/FUSE, the examples compile.
test: deps
	$(GO) vet ./...
	$(GO) build -o bin/ ./examples/...
	$(GO) test -count=1 -timeout 25m ./...
	$(GO) test -count=1 -race -timeout 15m ./protocol/ ./sdk/ ./fs/ ./master/ ./node/
	$(GO) test -count=1 -race -timeout 20m -run '$(RACE_TESTS)' ./integration/

# The reliability soak for 10 minutes (TFFS_SOAK; `make test` runs it for 60 s): random spawns, runs,
# puts, fetches and destroys from several sessions and a FUSE mount across injected connection cuts.
# TFFS_SOAK_SEED=N repeats a run's choices (its seed is in the log).
SOAK     ?= 10m
soak: deps
	TFFS_SOAK=$(SOAK) $(GO) test -count=1 -v -run '^TestSoak$$' -timeout 30m ./integration/

unit:
	$(GO) test -count=1 -short ./protocol/ ./internal/ociarchive/

bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 10x -timeout 30m ./bench/

busybox-image: deps
	$(GO) run ./internal/ociarchive/cmd/mkbusybox bin/busybox.tar

demo: build
	@rm -rf $(DEMO_DIR); mkdir -p $(DEMO_DIR)
	@echo "== starting an embedded location (log: $(DEMO_DIR)/location.log)"
	@TFFS_DIR=$(DEMO_DIR)/client ./$(BIN) location up --dir $(DEMO_DIR)/state --mount $(DEMO_DIR)/mnt > $(DEMO_DIR)/location.log 2>&1 & echo $$! > $(DEMO_DIR)/pid
	@for i in $$(seq 1 120); do grep -q "is up" $(DEMO_DIR)/location.log 2>/dev/null && break; sleep 0.5; done; cat $(DEMO_DIR)/location.log
	@echo "== running examples/hello"
	TFFS_DIR=$(DEMO_DIR)/client $(GO) run ./examples/hello; rc=$$?; \
	kill -TERM $$(cat $(DEMO_DIR)/pid); while kill -0 $$(cat $(DEMO_DIR)/pid) 2>/dev/null; do sleep 0.2; done; \
	echo "== location stopped"; exit $$rc

# The README's set-up on a fresh Debian bookworm root (debootstrap), run there: see scripts/fresh.sh.
fresh:
	./scripts/fresh.sh

clean:
	rm -rf bin
