#!/usr/bin/env bash
# Installs what `make test` needs and can install by itself: the real peers the
# end-to-end tests compare with (Debian's prometheus, promtool and
# prometheus-node-exporter) and a pinned golangci-lint built with this
# machine's Go and cached under $CACHE. Without root or apt-get it says what
# is missing; the tests that need it then skip, or fail when CI=true.
set -euo pipefail

CACHE=${PANOPTES_CACHE:-$HOME/.cache/panoptes}
GOLANGCI_VERSION=${GOLANGCI_VERSION:-v2.15.0}

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-node-exporter >/dev/null 2>&1 || missing+=(prometheus-node-exporter)
if [ ${#missing[@]} -gt 0 ]; then
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "test-deps: installing ${missing[*]} from Debian" >&2
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
		# The packages enable services on :9090 and :9100; the tests start their
		# own copies on free loopback ports, so stop the system ones where
		# systemd runs.
		if [ -d /run/systemd/system ]; then
			systemctl disable --now prometheus prometheus-node-exporter >/dev/null 2>&1 || true
		fi
	else
		echo "test-deps: missing ${missing[*]} and cannot install (need root and apt-get); the tests that use them will skip" >&2
	fi
fi

lint="$CACHE/bin/golangci-lint-$GOLANGCI_VERSION"
if [ ! -x "$lint" ]; then
	echo "test-deps: building golangci-lint $GOLANGCI_VERSION into $lint (a few minutes, once)" >&2
	tmp=$(mktemp -d)
	GOBIN="$tmp" GOFLAGS=-mod=mod go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_VERSION"
	mkdir -p "$(dirname "$lint")"
	mv "$tmp/golangci-lint" "$lint"
	rmdir "$tmp"
fi
