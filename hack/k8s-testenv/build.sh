#!/usr/bin/env bash
# build.sh - build a real kube-apiserver, kube-controller-manager, kubectl and etcd from
# the Go module proxy, for the tests that need a Kubernetes control plane (see
# README.md here).
#
# Output: $K8S_TESTENV_DIR/bin/{kube-apiserver,kube-controller-manager,kubectl,etcd}
# (+ <bin>.version stamps);
# prints that bin directory on stdout, everything else on stderr.
# Idempotent: a binary whose stamp matches the requested version is not
# rebuilt (about 0.2 s); each binary is built in a scratch directory and moved
# into place, so an interrupted build never leaves half a binary.
#
# Env knobs:
#   PANOPTES_CACHE   the project's cache root (default: $HOME/.cache/panoptes)
#   K8S_TESTENV_DIR  this tool's cache root   (default: $PANOPTES_CACHE/k8s-testenv)
#   K8S_VERSION      k8s.io/kubernetes tag    (default: v1.37.2; staging modules -> v0.37.2)
#   ETCD_VERSION     go.etcd.io/etcd/server/v3 tag (default: v3.6.16)
#   FORCE=1          rebuild even if the stamps match
# Needs only go (>= the go line of k8s.io/kubernetes' go.mod: 1.26.0 for
# v1.37.2) and the Go module proxy. Neither go.mod of this repository changes.
set -euo pipefail

PANOPTES_CACHE="${PANOPTES_CACHE:-$HOME/.cache/panoptes}"
K8S_TESTENV_DIR="${K8S_TESTENV_DIR:-$PANOPTES_CACHE/k8s-testenv}"
K8S_VERSION="${K8S_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
FORCE="${FORCE:-0}"

BIN="$K8S_TESTENV_DIR/bin"
SRC="$K8S_TESTENV_DIR/src"
mkdir -p "$BIN" "$SRC"

# v1.37.2 -> v0.37.2 (the published tag of every k8s.io/* staging module)
STAGING_VERSION="v0.${K8S_VERSION#v1.}"

# The wrapper modules live outside this repository: no go.work, no inherited
# -mod=vendor, static binaries.
export CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=mod

log() { printf '[k8s-testenv build] %s\n' "$*" >&2; }

up_to_date() { # $1=binary $2=version
	[[ "$FORCE" != 1 && -x "$BIN/$1" && -f "$BIN/$1.version" && "$(cat "$BIN/$1.version")" == "$2" ]]
}

# build_k8s_cmd NAME: k8s.io/kubernetes/cmd/NAME at $K8S_VERSION into $BIN/NAME.
build_k8s_cmd() {
	local name=$1
	if up_to_date "$name" "$K8S_VERSION"; then
		log "$name $K8S_VERSION already built"
		return
	fi
	local dir="$SRC/$name-$K8S_VERSION"
	rm -rf "$dir"
	mkdir -p "$dir"
	cd "$dir"
	printf 'module k8s-testenv/%s\n\ngo 1.24.0\n' "$name" >go.mod

	# `go install k8s.io/kubernetes/cmd/kube-apiserver@v` fails: k8s.io/kubernetes
	# requires its staging modules at v0.0.0 and replaces them with
	# ./staging/src/..., which a dependency's replace cannot do. So a wrapper
	# module requires it and maps each staging module to its published tag.
	log "fetching k8s.io/kubernetes@$K8S_VERSION go.mod"
	local gomod
	gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
		sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
	[[ -f "$gomod" ]] || { log "cannot locate go.mod of k8s.io/kubernetes@$K8S_VERSION"; exit 1; }

	local gover
	gover="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod")"
	{
		echo "module k8s-testenv/$name"
		echo
		echo "go $gover"
		echo
		grep -E '^godebug ' "$gomod" || true # upstream's GODEBUG defaults
		echo
		echo "require k8s.io/kubernetes $K8S_VERSION"
		echo
		echo "replace ("
		sed -n 's/^[[:space:]]*\(k8s\.io\/[^[:space:]]*\) v0\.0\.0\([[:space:]].*\)\{0,1\}$/\1/p' "$gomod" |
			sort -u | while read -r m; do
			printf '\t%s => %s %s\n' "$m" "$m" "$STAGING_VERSION"
		done
		echo ")"
	} >go.mod

	log "building $name $K8S_VERSION (staging modules at $STAGING_VERSION; kube-apiserver 10-18 min cold, kubectl 3-5 min, kube-controller-manager about 10 min after kube-apiserver, once per version)"
	local major minor
	major="${K8S_VERSION#v}"
	major="${major%%.*}"
	minor="${K8S_VERSION#v*.}"
	minor="${minor%%.*}"
	# Without -X the binary reports version v0.0.0.
	local pkg=k8s.io/component-base/version
	local ldflags="-s -w"
	ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
	ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
	ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
	ldflags+=" -X k8s.io/client-go/pkg/version.gitMajor=$major -X k8s.io/client-go/pkg/version.gitMinor=$minor"
	go build -trimpath -ldflags "$ldflags" -o "$dir/$name" "k8s.io/kubernetes/cmd/$name"
	mv "$dir/$name" "$BIN/$name"
	echo "$K8S_VERSION" >"$BIN/$name.version"
	cd "$K8S_TESTENV_DIR"
	rm -rf "$dir"
}

build_etcd() {
	if up_to_date etcd "$ETCD_VERSION"; then
		log "etcd $ETCD_VERSION already built"
		return
	fi
	local dir="$SRC/etcd-$ETCD_VERSION"
	rm -rf "$dir"
	mkdir -p "$dir"
	cd "$dir"
	# The stock etcd server (same flags as upstream's etcd binary).
	cat >main.go <<'GO'
// Command etcd is the stock etcd server.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
	printf 'module k8s-testenv/etcd\n\ngo 1.24.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >go.mod
	log "building etcd $ETCD_VERSION (about 2 min cold, once per version)"
	go mod tidy
	go build -trimpath -ldflags "-s -w" -o "$dir/etcd" .
	mv "$dir/etcd" "$BIN/etcd"
	echo "$ETCD_VERSION" >"$BIN/etcd.version"
	cd "$K8S_TESTENV_DIR"
	rm -rf "$dir"
}

build_etcd
build_k8s_cmd kube-apiserver
# The real kubectl: `kubectl apply --dry-run=server` of deploy/ and `kubectl top`.
build_k8s_cmd kubectl
# The Deployment, ReplicaSet and HorizontalPodAutoscaler controllers, for the
# HPA's end-to-end tests (internal/testkit/k8s StartControllerManager); built
# last, as it reuses most of kube-apiserver's compiled packages.
build_k8s_cmd kube-controller-manager
log "ready: $("$BIN/kube-apiserver" --version 2>&1), etcd $("$BIN/etcd" --version 2>&1 | head -1 | sed 's/^etcd Version: //')"
echo "$BIN"
