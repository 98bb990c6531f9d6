# The two commands of the README: `make run` (go run ./cmd/panoptes) and
# `make test` (everything CI runs).
GO            ?= go
CACHE         ?= $(HOME)/.cache/panoptes
GOLANGCI_VERSION ?= v2.15.0
GOLANGCI      := $(CACHE)/bin/golangci-lint-$(GOLANGCI_VERSION)
FUZZTIME      ?= 10s
# Screenshots of the browser tests (test/ui), one directory per test.
ARTIFACTS     ?= $(CURDIR)/test-artifacts
# The packages `make unit` and `make test-load` test, and the cores the load
# keeps busy.
TESTPKGS      ?= ./...
LOAD_CORES    ?= $(shell nproc)

.PHONY: run build test deps fmt-check vet lint unit fuzz bench

run:
	$(GO) run ./cmd/panoptes

# What `panoptes version`, every role's --version, /api/v1/status/buildinfo
# and panoptes_build_info report: the tag (or commit) with -dirty for
# uncommitted changes, the commit, and its date (UTC; the commit's, so that a
# build is reproducible). Outside git the binary falls back to Go's build
# information (internal/version).
LDFLAGS       := $(shell v=github.com/panoptes-dev/panoptes/internal/version; \
	git rev-parse --git-dir >/dev/null 2>&1 && \
	echo "-X $$v.Version=$$(git describe --tags --always --dirty)" \
	"-X $$v.Revision=$$(git rev-parse HEAD)" \
	"-X $$v.BuildDate=$$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ)")

# bin/panoptes holds every role; bin/panoptes-agent is the lean agent build
# the DaemonSet runs (-tags agentonly: the server's packages are not linked).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/panoptes ./cmd/panoptes
	CGO_ENABLED=0 $(GO) build -tags agentonly -trimpath -ldflags '$(LDFLAGS)' -o bin/panoptes-agent ./cmd/panoptes

# The whole test suite: installs the real peers when it can, then format,
# vet, lint, and every test with the race detector.
test: deps fmt-check vet lint unit

deps:
	PANOPTES_CACHE=$(CACHE) GOLANGCI_VERSION=$(GOLANGCI_VERSION) hack/test-deps.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	$(GO) vet -tags agentonly ./cmd/panoptes

lint:
	$(GOLANGCI) run ./...

# Every test with the race detector, through hack/testsummary: the output of
# plain `go test` without the logs of passing tests, then each skipped test
# with its reason ("missing <what>: <how to get it>") and a last line
# "N passed, N failed, N skipped". Under CI=true (.ci/run) a missing peer
# fails instead of skipping.
# The lean agent build's command (-tags agentonly, what the DaemonSet ships)
# is tested on its own first; the summary line of the whole suite comes last.
unit:
	$(GO) run ./hack/testsummary $(GO) test -race -count=1 -tags agentonly -json ./cmd/panoptes
	PANOPTES_TEST_ARTIFACTS=$(ARTIFACTS) $(GO) run ./hack/testsummary $(GO) test -race -count=1 -timeout 30m -json $(TESTPKGS)

# The tests under load, as on a busy node (not part of `make test`): every
# test of $(TESTPKGS) three times with the race detector while a CPU burner
# keeps $(LOAD_CORES) cores busy: stress-ng when hack/test-deps.sh installed
# it, else testkit's burner (internal/testkit/burn). A test that passes only
# on an idle machine waits on time instead of on an event. The time-outs are
# go test's 10 minutes per test binary stretched: test/e2e runs about 4
# minutes on an idle machine, and three times that and more under load.
.PHONY: test-load
test-load:
	@burndir=$$(mktemp -d); \
	if command -v stress-ng >/dev/null 2>&1; then \
		stress-ng --cpu $(LOAD_CORES) --quiet & \
	else \
		$(GO) build -o $$burndir/burn ./internal/testkit/burn || exit 1; \
		$$burndir/burn -cores $(LOAD_CORES) & \
	fi; \
	burner=$$!; trap 'kill $$burner 2>/dev/null; wait $$burner 2>/dev/null; rm -rf $$burndir' EXIT; \
	PANOPTES_TEST_ARTIFACTS=$(ARTIFACTS) $(GO) run ./hack/testsummary $(GO) test -race -count=3 -timeout 60m -json $(TESTPKGS)

# A short pass of every fuzzer (not part of `make test`; nightly material).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) || exit 1; \
		done; \
	done

# Side-by-side benchmark against node_exporter; see bench/README.md.
bench: build
	bench/agent.sh
