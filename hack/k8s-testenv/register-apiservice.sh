#!/usr/bin/env bash
# register-apiservice.sh GROUP VERSION PORT [NAMESPACE/SERVICE]
#
# Points the aggregation layer of an up.sh cluster at an extension apiserver
# listening on https://127.0.0.1:PORT (a metrics-server-like server), e.g.
#   hack/k8s-testenv/register-apiservice.sh metrics.k8s.io v1beta1 14443
# and waits (up to 60 s) until the APIService is Available.
# Remove it again (do so in teardown: a stale APIService makes discovery
# report the group unavailable) with:
#   hack/k8s-testenv/register-apiservice.sh --delete GROUP VERSION [NAMESPACE/SERVICE]
#
# How: a Service of type ExternalName (externalName: localhost) plus an
# APIService with insecureSkipTLSVerify; the aggregator (up.sh runs it with
# --enable-aggregator-routing=false) then dials https://localhost:PORT with the
# front-proxy client certificate. Endpoints/EndpointSlices cannot be used: the
# API rejects loopback addresses in them.
#
# Talks to the API with curl (kubectl is not needed), using the variables that
# up.sh prints: K8S_TESTENV_APISERVER and K8S_TESTENV_PKI, or K8S_TESTENV_RUN_DIR
# (its env file is read when those two are unset).
set -euo pipefail

usage() {
	echo "usage: $0 [--delete] GROUP VERSION [PORT] [NAMESPACE/SERVICE]" >&2
	exit 2
}
delete=0
if [[ "${1:-}" == --delete ]]; then
	delete=1
	shift
fi
(($# >= 2)) || usage
group="$1" version="$2"
if ((delete)); then
	ref="${3:-kube-system/$(echo "$group" | tr . -)}"
else
	(($# >= 3)) || usage
	port="$3"
	ref="${4:-kube-system/$(echo "$group" | tr . -)}"
fi
ns="${ref%%/*}" svc="${ref#*/}"

if [[ -z "${K8S_TESTENV_APISERVER:-}" || -z "${K8S_TESTENV_PKI:-}" ]]; then
	PANOPTES_CACHE="${PANOPTES_CACHE:-$HOME/.cache/panoptes}"
	run="${K8S_TESTENV_RUN_DIR:-${K8S_TESTENV_DIR:-$PANOPTES_CACHE/k8s-testenv}/run}"
	[[ -f "$run/env" ]] || { echo "no K8S_TESTENV_APISERVER/K8S_TESTENV_PKI and no $run/env: run up.sh first" >&2; exit 1; }
	# shellcheck disable=SC1091
	source "$run/env"
fi
api() { # METHOD PATH [curl args...]
	local m="$1" p="$2"
	shift 2
	curl -sS --cacert "$K8S_TESTENV_PKI/ca.crt" --cert "$K8S_TESTENV_PKI/admin.crt" \
		--key "$K8S_TESTENV_PKI/admin.key" -X "$m" "$K8S_TESTENV_APISERVER$p" "$@"
}
apply() { # PATH JSON: server-side apply
	api PATCH "$1?fieldManager=k8s-testenv&force=true" -f -o /dev/null \
		-H 'Content-Type: application/apply-patch+yaml' --data-binary "$2"
}

if ((delete)); then
	api DELETE "/apis/apiregistration.k8s.io/v1/apiservices/$version.$group" -o /dev/null
	api DELETE "/api/v1/namespaces/$ns/services/$svc" -o /dev/null
	exit 0
fi

apply "/api/v1/namespaces/$ns/services/$svc" "{
  \"apiVersion\": \"v1\", \"kind\": \"Service\",
  \"metadata\": {\"name\": \"$svc\", \"namespace\": \"$ns\"},
  \"spec\": {\"type\": \"ExternalName\", \"externalName\": \"localhost\",
    \"ports\": [{\"name\": \"https\", \"port\": $port, \"protocol\": \"TCP\"}]}}"
apply "/apis/apiregistration.k8s.io/v1/apiservices/$version.$group" "{
  \"apiVersion\": \"apiregistration.k8s.io/v1\", \"kind\": \"APIService\",
  \"metadata\": {\"name\": \"$version.$group\"},
  \"spec\": {\"group\": \"$group\", \"version\": \"$version\",
    \"groupPriorityMinimum\": 100, \"versionPriority\": 100, \"insecureSkipTLSVerify\": true,
    \"service\": {\"name\": \"$svc\", \"namespace\": \"$ns\", \"port\": $port}}}"

# wait until the aggregator's discovery check against the backend passes
for ((i = 0; i < 120; i++)); do
	if api GET "/apis/apiregistration.k8s.io/v1/apiservices/$version.$group" -f 2>/dev/null |
		tr -d ' \n' | grep -q '"type":"Available","status":"True"'; then
		echo "apiservice/$version.$group available" >&2
		exit 0
	fi
	sleep 0.5
done
echo "apiservice/$version.$group not Available after 60s:" >&2
api GET "/apis/apiregistration.k8s.io/v1/apiservices/$version.$group" >&2
exit 1
