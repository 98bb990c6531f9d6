#!/usr/bin/env bash
# up.sh - start etcd + kube-apiserver on 127.0.0.1 only, in the background.
#
# Prints `export KUBECONFIG=...` (plus K8S_TESTENV_* variables) on stdout and
# everything else on stderr, so `eval "$(hack/k8s-testenv/up.sh)"` works; the
# same lines are kept in $RUN/env. Stop with down.sh (same K8S_TESTENV_DIR /
# K8S_TESTENV_RUN_DIR). Takes about 5 s.
#
# Env knobs:
#   PANOPTES_CACHE       project cache root (default: $HOME/.cache/panoptes)
#   K8S_TESTENV_DIR      cache root with bin/ from build.sh (default: $PANOPTES_CACHE/k8s-testenv)
#   K8S_TESTENV_BIN      dir holding kube-apiserver + etcd  (default: $K8S_TESTENV_DIR/bin)
#   K8S_TESTENV_RUN_DIR  state dir: certs, pids, logs, etcd data, kubeconfig
#                        (default: $K8S_TESTENV_DIR/run; wiped on every up)
#   K8S_TESTENV_WATCH_PID  when set, a watchdog runs down.sh once that process is
#                        gone (the Go helper passes its own pid, so a test binary
#                        killed by `go test -timeout` leaves nothing running)
#   APISERVER_PORT       secure port (default: a free one from a random start in 20000-29999)
#   ETCD_PORT            etcd client port (default: likewise; peer = ETCD_PEER_PORT or the next free)
#   AGGREGATOR_ROUTING   --enable-aggregator-routing (default: false). Must stay false for the
#                        ExternalName->localhost APIService of register-apiservice.sh: with true
#                        the aggregator needs Endpoints, which reject 127.0.0.0/8.
#   SERVICE_CIDR         --service-cluster-ip-range (default: 127.0.64.0/24, a loopback range,
#                        so anything that dials a ClusterIP stays on this machine)
#   AUTHZ_MODE           --authorization-mode (default: RBAC)
#   DISABLE_ADMISSION    --disable-admission-plugins (default: ServiceAccount, since no
#                        controller-manager creates the "default" ServiceAccount;
#                        DISABLE_ADMISSION= (empty) keeps every default plugin)
#   APISERVER_EXTRA_ARGS extra args appended to kube-apiserver (word-split)
#   READY_TIMEOUT        seconds to wait for /readyz (default: 120)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PANOPTES_CACHE="${PANOPTES_CACHE:-$HOME/.cache/panoptes}"
K8S_TESTENV_DIR="${K8S_TESTENV_DIR:-$PANOPTES_CACHE/k8s-testenv}"
BIN="${K8S_TESTENV_BIN:-$K8S_TESTENV_DIR/bin}"
RUN="${K8S_TESTENV_RUN_DIR:-$K8S_TESTENV_DIR/run}"
AGGREGATOR_ROUTING="${AGGREGATOR_ROUTING:-false}"
SERVICE_CIDR="${SERVICE_CIDR:-127.0.64.0/24}"
AUTHZ_MODE="${AUTHZ_MODE:-RBAC}"
DISABLE_ADMISSION="${DISABLE_ADMISSION-ServiceAccount}"
READY_TIMEOUT="${READY_TIMEOUT:-120}"

log() { printf '[k8s-testenv up] %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

for b in etcd kube-apiserver; do
	[[ -x "$BIN/$b" ]] || die "$BIN/$b missing: run hack/k8s-testenv/build.sh first"
done
command -v openssl >/dev/null || die "openssl not found"
command -v curl >/dev/null || die "curl not found"

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
if alive "$RUN/etcd.pid" || alive "$RUN/kube-apiserver.pid"; then
	die "already running from $RUN (run down.sh first)"
fi

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { # $1=start port, $2.. = ports to skip
	local p="$1"
	shift
	while port_in_use "$p" || [[ " $* " == *" $p "* ]]; do p=$((p + 1)); done
	echo "$p"
}
# A random start keeps test packages that start clusters at the same time
# (go test runs packages in parallel) off each other's ports.
APISERVER_PORT="${APISERVER_PORT:-$(free_port $((20000 + RANDOM % 10000)))}"
ETCD_PORT="${ETCD_PORT:-$(free_port $((20000 + RANDOM % 10000)) "$APISERVER_PORT")}"
ETCD_PEER_PORT="${ETCD_PEER_PORT:-$(free_port $((ETCD_PORT + 1)) "$ETCD_PORT" "$APISERVER_PORT")}"
for p in "$APISERVER_PORT" "$ETCD_PORT" "$ETCD_PEER_PORT"; do
	port_in_use "$p" && die "port 127.0.0.1:$p already in use"
done

rm -rf "$RUN"
mkdir -p "$RUN/pki" "$RUN/etcd-data"
chmod 700 "$RUN"
PKI="$RUN/pki"
start_ts=$(date +%s.%N)

# ---------------------------------------------------------------- certificates
# EC P-256 keys: instant to generate, accepted by the apiserver, kubectl and client-go.
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
newca() { # $1=name $2=CN
	newkey "$PKI/$1.key"
	openssl req -x509 -new -key "$PKI/$1.key" -subj "/CN=$2" -days 3650 -out "$PKI/$1.crt" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign" 2>/dev/null
}
newcert() { # $1=name $2=ca $3=subject $4=extendedKeyUsage [$5=subjectAltName]
	newkey "$PKI/$1.key"
	openssl req -new -key "$PKI/$1.key" -subj "$3" -out "$PKI/$1.csr" 2>/dev/null
	{
		echo "basicConstraints=critical,CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		echo "extendedKeyUsage=$4"
		if [[ -n "${5:-}" ]]; then echo "subjectAltName=$5"; fi
	} >"$PKI/$1.ext"
	openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$2.crt" -CAkey "$PKI/$2.key" -CAcreateserial \
		-days 3650 -extfile "$PKI/$1.ext" -out "$PKI/$1.crt" 2>/dev/null
	rm -f "$PKI/$1.csr" "$PKI/$1.ext"
}
newca ca k8s-testenv-ca
newca front-proxy-ca k8s-testenv-front-proxy-ca
# first IP of the service range = ClusterIP of the "kubernetes" Service (IPv4 only)
KUBERNETES_SVC_IP="$(echo "${SERVICE_CIDR%/*}" | awk -F. '{printf "%d.%d.%d.%d", $1, $2, $3, $4 + 1}')"
newcert apiserver ca /CN=kube-apiserver serverAuth \
	"IP:127.0.0.1,DNS:localhost,IP:$KUBERNETES_SVC_IP,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
newcert admin ca "/O=system:masters/CN=k8s-testenv-admin" clientAuth
newcert front-proxy-client front-proxy-ca /CN=front-proxy-client clientAuth
# service-account signing key pair (TokenRequest, `kubectl create token`)
newkey "$PKI/sa.key"
openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
# static bearer token for tests that prefer tokens over client certs (system:masters)
ADMIN_TOKEN="$(openssl rand -hex 24)"
echo "$ADMIN_TOKEN,k8s-testenv-token-admin,k8s-testenv-token-admin,system:masters" >"$PKI/tokens.csv"
echo "$ADMIN_TOKEN" >"$RUN/admin.token"
cert_ts=$(date +%s.%N)

# ---------------------------------------------------------------- etcd
log "starting etcd on 127.0.0.1:$ETCD_PORT (peer $ETCD_PEER_PORT)"
"$BIN/etcd" \
	--name=k8s-testenv \
	--data-dir="$RUN/etcd-data" \
	--listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
	--advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
	--listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
	--initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
	--initial-cluster="k8s-testenv=http://127.0.0.1:$ETCD_PEER_PORT" \
	--unsafe-no-fsync=true \
	--quota-backend-bytes=$((2 * 1024 * 1024 * 1024)) \
	--log-level=warn \
	</dev/null >"$RUN/etcd.log" 2>&1 &
echo $! >"$RUN/etcd.pid"

cleanup_on_fail() {
	log "startup failed; last log lines:"
	tail -n 25 "$RUN/etcd.log" >&2 2>/dev/null || true
	tail -n 40 "$RUN/kube-apiserver.log" >&2 2>/dev/null || true
	local n pid i
	for n in kube-apiserver etcd; do
		alive "$RUN/$n.pid" || continue
		pid="$(cat "$RUN/$n.pid")"
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	done
	rm -f "$RUN"/*.pid
}
trap cleanup_on_fail ERR

deadline=$(($(date +%s) + READY_TIMEOUT))
until curl -fsS "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'; do
	alive "$RUN/etcd.pid" || {
		log "etcd exited"
		false
	}
	(($(date +%s) < deadline)) || {
		log "etcd not healthy after ${READY_TIMEOUT}s"
		false
	}
	sleep 0.2
done
etcd_ts=$(date +%s.%N)

# ---------------------------------------------------------------- kube-apiserver
log "starting kube-apiserver on https://127.0.0.1:$APISERVER_PORT"
# shellcheck disable=SC2086
"$BIN/kube-apiserver" \
	--bind-address=127.0.0.1 \
	--advertise-address=127.0.0.1 \
	--secure-port="$APISERVER_PORT" \
	--etcd-servers="http://127.0.0.1:$ETCD_PORT" \
	--service-cluster-ip-range="$SERVICE_CIDR" \
	--endpoint-reconciler-type=none \
	--tls-cert-file="$PKI/apiserver.crt" \
	--tls-private-key-file="$PKI/apiserver.key" \
	--client-ca-file="$PKI/ca.crt" \
	--token-auth-file="$PKI/tokens.csv" \
	--service-account-issuer=https://kubernetes.default.svc.cluster.local \
	--service-account-key-file="$PKI/sa.pub" \
	--service-account-signing-key-file="$PKI/sa.key" \
	--authorization-mode="$AUTHZ_MODE" \
	--disable-admission-plugins="$DISABLE_ADMISSION" \
	--allow-privileged=true \
	--requestheader-client-ca-file="$PKI/front-proxy-ca.crt" \
	--requestheader-allowed-names=front-proxy-client \
	--requestheader-username-headers=X-Remote-User \
	--requestheader-group-headers=X-Remote-Group \
	--requestheader-extra-headers-prefix=X-Remote-Extra- \
	--proxy-client-cert-file="$PKI/front-proxy-client.crt" \
	--proxy-client-key-file="$PKI/front-proxy-client.key" \
	--enable-aggregator-routing="$AGGREGATOR_ROUTING" \
	--profiling=false \
	${APISERVER_EXTRA_ARGS:-} \
	</dev/null >"$RUN/kube-apiserver.log" 2>&1 &
echo $! >"$RUN/kube-apiserver.pid"

until curl -fsS --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
	"https://127.0.0.1:$APISERVER_PORT/readyz" 2>/dev/null | grep -q '^ok$'; do
	alive "$RUN/kube-apiserver.pid" || {
		log "kube-apiserver exited"
		false
	}
	(($(date +%s) < deadline)) || {
		log "kube-apiserver not ready after ${READY_TIMEOUT}s"
		false
	}
	sleep 0.25
done
trap - ERR
ready_ts=$(date +%s.%N)

# ---------------------------------------------------------------- kubeconfig
b64() { base64 <"$1" | tr -d '\n'; }
cat >"$RUN/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: k8s-testenv
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(b64 "$PKI/ca.crt")
users:
- name: k8s-testenv-admin
  user:
    client-certificate-data: $(b64 "$PKI/admin.crt")
    client-key-data: $(b64 "$PKI/admin.key")
- name: k8s-testenv-token
  user:
    token: $ADMIN_TOKEN
contexts:
- name: k8s-testenv
  context:
    cluster: k8s-testenv
    user: k8s-testenv-admin
- name: k8s-testenv-token
  context:
    cluster: k8s-testenv
    user: k8s-testenv-token
current-context: k8s-testenv
KC
chmod 600 "$RUN/kubeconfig"
cat >"$RUN/env" <<ENV
export KUBECONFIG=$RUN/kubeconfig
export K8S_TESTENV_APISERVER=https://127.0.0.1:$APISERVER_PORT
export K8S_TESTENV_ETCD=http://127.0.0.1:$ETCD_PORT
export K8S_TESTENV_PKI=$PKI
export K8S_TESTENV_RUN_DIR=$RUN
ENV

# ---------------------------------------------------------------- watchdog
# Runs down.sh when the watched process is gone. Its command line carries a
# marker that down.sh checks before it signals the pid in watchdog.pid.
if [[ -n "${K8S_TESTENV_WATCH_PID:-}" ]]; then
	K8S_TESTENV_DIR="$K8S_TESTENV_DIR" K8S_TESTENV_RUN_DIR="$RUN" nohup bash -c '
		while kill -0 "$1" 2>/dev/null && [[ -d "$2" ]]; do sleep 1; done
		[[ -d "$2" ]] && exec "$3/down.sh"' k8s-testenv-watchdog \
		"$K8S_TESTENV_WATCH_PID" "$RUN" "$HERE" </dev/null >>"$RUN/watchdog.log" 2>&1 &
	echo $! >"$RUN/watchdog.pid"
fi

log "$(awk -v s="$start_ts" -v c="$cert_ts" -v e="$etcd_ts" -v r="$ready_ts" -v d="$RUN" 'BEGIN {
	printf "ready: certs %.1fs, etcd %.1fs, apiserver %.1fs (total %.1fs); state in %s", c-s, e-c, r-e, r-s, d }')"
cat "$RUN/env"
