#!/usr/bin/env bash
# Installs what `make test` needs and can install by itself: the real peers the
# end-to-end tests compare with (Debian's prometheus, promtool,
# prometheus-node-exporter and prometheus-alertmanager with amtool; Alertmanager
# at the version of the linked alertmanager packages; cAdvisor, built from its
# library module with the kubelet's labels by bench/cadvisorpeer; Prometheus at
# the version of the embedded prometheus/prometheus packages; single-node
# VictoriaMetrics as a remote-write receiver; kube-state-metrics and metrics-server; Debian's chromium
# for the web UI's browser tests; stress-ng, the load of `make test-load`) and a
# pinned golangci-lint built with this machine's Go, all cached under $CACHE.
# Without root or apt-get it says what is missing; the tests that need it then
# skip, or fail when CI=true.
set -euo pipefail

CACHE=${PANOPTES_CACHE:-$HOME/.cache/panoptes}
GOLANGCI_VERSION=${GOLANGCI_VERSION:-v2.15.0}
CADVISOR_VERSION=${CADVISOR_VERSION:-v0.60.6}
# v1.151.0 is the newest VictoriaMetrics whose go.mod this machine's Go builds.
VICTORIAMETRICS_VERSION=${VICTORIAMETRICS_VERSION:-v1.151.0}
# The peers of `panoptes state` and `panoptes metrics-api`.
KSM_VERSION=${KSM_VERSION:-v2.20.0}
METRICS_SERVER_VERSION=${METRICS_SERVER_VERSION:-v0.8.0}
HERE=$(cd "$(dirname "$0")/.." && pwd)
# Prometheus as a peer is built at the version go.mod embeds, so the oracle and
# the server run the same tsdb, promql and scrape code.
PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-$(cd "$HERE" && go list -m -f '{{.Version}}' github.com/prometheus/prometheus)}
# Likewise the Alertmanager peer of `panoptes alertmanager`, at the version of
# the alertmanager packages it is built on.
ALERTMANAGER_VERSION=${ALERTMANAGER_VERSION:-$(cd "$HERE" && go list -m -f '{{.Version}}' github.com/prometheus/alertmanager)}

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-node-exporter >/dev/null 2>&1 || missing+=(prometheus-node-exporter)
command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v ip >/dev/null 2>&1 || missing+=(iproute2) # network namespaces for the pod network test
command -v chromium >/dev/null 2>&1 || missing+=(chromium) # the web UI's browser tests
command -v stress-ng >/dev/null 2>&1 || missing+=(stress-ng) # the CPU load of `make test-load`
command -v dbus-daemon >/dev/null 2>&1 || missing+=(dbus-daemon) # the systemd collector's tests (a private bus)
command -v mkfs.btrfs >/dev/null 2>&1 || missing+=(btrfs-progs) # the btrfs collector on a real file system
command -v mkfs.xfs >/dev/null 2>&1 || missing+=(xfsprogs)      # the xfs collector on a real file system
if [ ${#missing[@]} -gt 0 ]; then
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "test-deps: installing ${missing[*]} from Debian" >&2
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
		# The packages enable services on :9090, :9093 and :9100; the tests
		# start their own copies on free loopback ports, so stop the system ones
		# where systemd runs.
		if [ -d /run/systemd/system ]; then
			systemctl disable --now prometheus prometheus-node-exporter prometheus-alertmanager >/dev/null 2>&1 || true
		fi
	else
		echo "test-deps: missing ${missing[*]} and cannot install (need root and apt-get); the tests that use them will skip" >&2
	fi
fi

# module_peer NAME VERSION MODULE PACKAGE COST [PREPARE]: builds PACKAGE of
# MODULE at VERSION into $CACHE/peers/NAME-VERSION/NAME unless it is there, in a
# scratch module with `go get` and `go build` (not `go install pkg@version`,
# which a replace directive in the peer's go.mod, or a version list the proxy
# does not serve, defeats), and moves it into place only when built, so an
# interrupted build never leaves half a peer. PREPARE, when given, is a
# function run in the scratch module after `go get` (for a module zip that
# lacks generated files). Neither go.mod of this repository changes.
module_peer() {
	local name=$1 version=$2 module=$3 pkg=$4 cost=$5 prepare=${6:-}
	local dir="$CACHE/peers/$name-$version"
	[ -x "$dir/$name" ] && return 0
	echo "test-deps: building $name $version into $dir ($cost, once per version)" >&2
	local build="$CACHE/peers/build-$name-$version"
	rm -rf "$build"
	mkdir -p "$build"
	(
		cd "$build"
		export GOFLAGS=-mod=mod CGO_ENABLED=0
		go mod init peer >/dev/null 2>&1
		go get "$module@$version"
		[ -z "$prepare" ] || "$prepare" "$module"
		go build -trimpath -o "$name" "$pkg"
	)
	mkdir -p "$dir"
	mv "$build/$name" "$dir/$name"
	rm -rf "$build"
}

# Alertmanager at the version of the linked alertmanager packages: the peer
# of `panoptes alertmanager` in its tests and bench/alertmanager.sh (Debian's
# 0.25 is the other, and brings amtool). Its module zip lacks the built web UI
# that package ui embeds (ui/app/dist, made by npm in its release build), so
# alertmanager_stub_ui builds it from a copy of the module with a one-page
# stand-in: the API, which is what the tests and the benchmark use, is
# untouched. Cold: about 1 minute wall, 60 CPU-s, with the Go build cache warm
# from this repository's build (5 s more to download the modules); 49 MB.
alertmanager_stub_ui() {
	local src
	src=$(go list -m -f '{{.Dir}}' "$1")
	cp -r "$src" src
	chmod -R u+w src
	mkdir -p src/ui/app/dist
	echo '<!doctype html><title>Alertmanager</title><p>Built without its web UI (a test peer); the API is whole.' >src/ui/app/dist/index.html
	go mod edit -replace "$1=./src"
}

# The peers build in two lanes at once, each lane's lines marked with its
# name: a cold build waits on the module proxy and on single-threaded links
# much of its time (VictoriaMetrics' used 130 CPU-s in 190 s on 2 cores), so
# two at once keep both cores busy where one after the other left one idle.
peers_lane() {
	lint="$CACHE/bin/golangci-lint-$GOLANGCI_VERSION"
	if [ ! -x "$lint" ]; then
		echo "test-deps: building golangci-lint $GOLANGCI_VERSION into $lint (a few minutes, once)" >&2
		tmp=$(mktemp -d)
		GOBIN="$tmp" GOFLAGS=-mod=mod go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_VERSION"
		mkdir -p "$(dirname "$lint")"
		mv "$tmp/golangci-lint" "$lint"
		rmdir "$tmp"
	fi

	# cAdvisor as a peer, never a dependency of Panoptes: its command is a nested
	# module the Go module proxy does not serve, so bench/cadvisorpeer (a module
	# of its own) drives github.com/google/cadvisor/lib as the kubelet does. Built
	# in a scratch directory, so neither go.mod of this repository changes.
	cadvisor="$CACHE/peers/cadvisor-$CADVISOR_VERSION"
	if [ ! -x "$cadvisor" ]; then
		echo "test-deps: building cAdvisor $CADVISOR_VERSION into $cadvisor (about a minute, once)" >&2
		build="$CACHE/peers/build-cadvisor-$CADVISOR_VERSION"
		rm -rf "$build"
		mkdir -p "$build"
		cp "$HERE"/bench/cadvisorpeer/{go.mod,go.sum,main.go} "$build/"
		(
			cd "$build"
			export GOFLAGS=-mod=mod CGO_ENABLED=0
			go get "github.com/google/cadvisor/lib@$CADVISOR_VERSION"
			go build -trimpath -o cadvisor .
		)
		mv "$build/cadvisor" "$cadvisor"
		rm -rf "$build"
	fi

	# Prometheus (and promtool) at the version of the embedded packages: the
	# oracle and benchmark peer of `panoptes server` and a remote-write receiver
	# in its tests. Built into a scratch directory and moved into place, so an
	# interrupted build never leaves half a peer. Cold: about 10 minutes, 147 MB.
	prometheus="$CACHE/peers/prometheus-$PROMETHEUS_VERSION"
	if [ ! -x "$prometheus/prometheus" ] || [ ! -x "$prometheus/promtool" ]; then
		echo "test-deps: building Prometheus $PROMETHEUS_VERSION into $prometheus (about 10 minutes cold, once per version)" >&2
		tmp="$CACHE/peers/build-prometheus-$PROMETHEUS_VERSION"
		rm -rf "$tmp"
		mkdir -p "$tmp"
		GOBIN="$tmp" GOFLAGS=-mod=mod go install \
			"github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_VERSION" \
			"github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION"
		rm -rf "$prometheus"
		mv "$tmp" "$prometheus"
	fi

	# Single-node VictoriaMetrics, a remote-write receiver for `panoptes server`'s
	# tests (its go.mod has a replace directive). Cold, with an empty Go build
	# cache: 3 min 10 s wall, 130 CPU-s on 2 shared cores (1 min when the build
	# cache is warm), 26 MB.
	module_peer victoria-metrics "$VICTORIAMETRICS_VERSION" github.com/VictoriaMetrics/VictoriaMetrics \
		github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics "1-3 minutes cold"

	# kube-state-metrics, the oracle and benchmark peer of `panoptes state`. Its
	# version list is not served, so `go install ...@version` fails; in a scratch
	# module `go get` of the exact version works. Cold: about 4 minutes, 87 MB.
	module_peer kube-state-metrics "$KSM_VERSION" k8s.io/kube-state-metrics/v2 k8s.io/kube-state-metrics/v2 "about 4 minutes cold"

	module_peer alertmanager "$ALERTMANAGER_VERSION" github.com/prometheus/alertmanager \
		github.com/prometheus/alertmanager/cmd/alertmanager "about 1 minute cold" alertmanager_stub_ui
}

kube_lane() {
	# metrics-server, the peer of `panoptes metrics-api`. Cold: about 6 minutes.
	metricsserver="$CACHE/peers/metrics-server-$METRICS_SERVER_VERSION"
	if [ ! -x "$metricsserver/metrics-server" ]; then
		echo "test-deps: building metrics-server $METRICS_SERVER_VERSION into $metricsserver (about 6 minutes cold, once per version)" >&2
		tmp="$CACHE/peers/build-metrics-server-$METRICS_SERVER_VERSION"
		rm -rf "$tmp"
		mkdir -p "$tmp"
		CGO_ENABLED=0 GOBIN="$tmp" GOFLAGS=-mod=mod go install -trimpath "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION"
		rm -rf "$metricsserver"
		mv "$tmp" "$metricsserver"
	fi

	# A real Kubernetes control plane for the tests of the Kubernetes parts
	# (internal/testkit/k8s): kube-apiserver, kubectl and kube-controller-manager
	# (the HPA tests' controllers) built from k8s.io/kubernetes and etcd from
	# go.etcd.io/etcd/server/v3, cached under $CACHE/k8s-testenv/bin with version
	# stamps (0.2 s when built). Cold: 13 min wall on 2 shared cores (etcd 1 min,
	# kube-apiserver 12 min; 1180 CPU-s) with the Go modules already downloaded,
	# then kubectl and kube-controller-manager (see hack/k8s-testenv/README.md);
	# allow about 18 min more with an empty module cache.
	if ! PANOPTES_CACHE="$CACHE" "$HERE/hack/k8s-testenv/build.sh" >/dev/null; then
		echo "test-deps: building the k8s-testenv control plane (etcd, kube-apiserver, kubectl, kube-controller-manager) failed, see above" >&2
		return 1
	fi
}

peers_lane 2>&1 | sed -u 's/^/[peers] /' >&2 &
peers=$!
kube_lane 2>&1 | sed -u 's/^/[kube] /' >&2 &
kube=$!
failed=0
wait "$peers" || failed=1
wait "$kube" || failed=1
if [ "$failed" = 1 ]; then
	echo "test-deps: a peer failed to build, see the lines above" >&2
	exit 1
fi

# The web UI's npm packages (uPlot), which the bundle test rebuilds the
# committed bundle from. `npm ci` installs exactly web/package-lock.json; it
# runs again only when the lock file changes.
if [ -f "$HERE/web/package-lock.json" ]; then
	stamp="$HERE/web/node_modules/.panoptes-lock.sha256"
	want=$(sha256sum "$HERE/web/package-lock.json" | cut -d' ' -f1)
	if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
		echo "test-deps: npm ci in web/ (the UI's packages, seconds)" >&2
		(cd "$HERE/web" && npm ci --no-audit --no-fund --loglevel=error)
		echo "$want" >"$stamp"
	fi
fi
