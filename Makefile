# moat — build, run and test. GNU make; needs only the Go toolchain (and
# swaks + python3 for the end-to-end tests, smtp-source/smtp-sink for the
# load run). Nothing here installs anything.
#
#   make build      bin/moat, version from `git describe` when available
#   make run        build, then `bin/moat serve` on the built-in defaults
#                   (SMTP 127.0.0.1:2525, data in ./moat-data); ARGS="-c FILE"
#   make test       go vet, unit tests, the end-to-end tests, then the
#                   systemd unit check (deploy/verify-unit.sh)
#   make test-e2e   end-to-end tests only (E2EFLAGS=-v for every test's result)
#   make bench      Go benchmarks, the end-to-end load run (bench/load.sh)
#                   and the IMAP comparison with Dovecot (bench/imap.sh)
#   make fuzz       every fuzz target for FUZZTIME each (default 30s)
#   make lint       gofmt, go vet and staticcheck
#   make clean      remove build and test outputs (never ./moat-data)

GO       ?= go
BIN      := bin/moat
VERSION  := $(shell git describe --always --dirty 2>/dev/null)
LDFLAGS  := $(if $(VERSION),-X main.version=$(VERSION))
FUZZTIME ?= 30s
E2EFLAGS ?=
ARGS     ?=
# staticcheck release used when it is not on PATH (module version v0.8.2 is
# release 2026.2.2; fetched through the Go module proxy).
STATICCHECK_VERSION ?= v0.8.2

.PHONY: all build run test test-unit test-e2e test-deploy bench fuzz lint clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/moat

run: build
	./$(BIN) serve $(ARGS)

test: test-unit
	$(MAKE) test-e2e
	$(MAKE) test-deploy

# The systemd unit passes `systemd-analyze verify` (skipped without
# systemd-analyze, unless CI is set).
test-deploy: build
	MOAT_BIN=$(CURDIR)/$(BIN) deploy/verify-unit.sh

test-unit:
	$(GO) vet ./...
	$(GO) vet -tags e2e ./cmd/moat/...
	$(GO) test ./...

test-e2e:
	$(GO) test -tags e2e -count=1 $(E2EFLAGS) ./cmd/moat/...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	bench/load.sh
	bench/imap.sh

# Each target runs alone (go test -fuzz takes one target per package).
fuzz:
	@grep -rI --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . \
	| sed -E 's|^(.*)/[^/:]*:func (Fuzz[A-Za-z0-9_]*).*|\1 \2|' | sort -u \
	| while read -r dir name; do \
		echo "== $$name in $$dir for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "$$dir" || exit 1; \
	done

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./cmd/moat/...
	@if command -v staticcheck >/dev/null 2>&1; then \
		echo "staticcheck ./..."; staticcheck ./... && staticcheck -tags e2e ./cmd/moat/...; \
	else \
		echo "staticcheck is not on PATH; running $(STATICCHECK_VERSION) through the Go module proxy"; \
		echo "(to install it: $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION))"; \
		$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./... && \
		$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) -tags e2e ./cmd/moat/... || { \
			rc=$$?; echo "staticcheck failed (exit $$rc). If it could not be downloaded, install it with:"; \
			echo "  $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)"; exit $$rc; }; \
	fi

clean:
	rm -rf bin/
	rm -f coverage.out coverage.html cover.out *.coverprofile *.test
