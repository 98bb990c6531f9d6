#!/usr/bin/env bash
# down.sh - stop the kube-apiserver and etcd that up.sh started (by pid file
# only, and only when /proc/PID/exe is still that binary), stop up.sh's
# watchdog, and delete the state dir (KEEP_STATE=1 keeps certs, logs and etcd
# data). About 4.5 s (both shut down gracefully).
#
# Env knobs: PANOPTES_CACHE, K8S_TESTENV_DIR, K8S_TESTENV_RUN_DIR (as in up.sh), KEEP_STATE.
set -euo pipefail

PANOPTES_CACHE="${PANOPTES_CACHE:-$HOME/.cache/panoptes}"
K8S_TESTENV_DIR="${K8S_TESTENV_DIR:-$PANOPTES_CACHE/k8s-testenv}"
RUN="${K8S_TESTENV_RUN_DIR:-$K8S_TESTENV_DIR/run}"

log() { printf '[k8s-testenv down] %s\n' "$*" >&2; }

stop() { # $1=name; SIGTERM, wait up to 15s, then SIGKILL
	local pidfile="$RUN/$1.pid" pid i exe
	[[ -f "$pidfile" ]] || return 0
	pid="$(cat "$pidfile")"
	if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
		# guard against pid reuse: only signal a process running our binary
		exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
		if [[ -z "$exe" ]]; then
			# exe link is gone while the pid lives: the process is already exiting
			for ((i = 0; i < 100; i++)); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
		elif [[ "${exe% (deleted)}" != */"$1" ]]; then
			log "pid $pid is not $1 any more; not touching it"
		else
			kill -TERM "$pid" 2>/dev/null || true
			for ((i = 0; i < 150; i++)); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			if kill -0 "$pid" 2>/dev/null; then
				log "$1 (pid $pid) ignored SIGTERM; sending SIGKILL"
				kill -KILL "$pid" 2>/dev/null || true
			fi
			log "stopped $1 (pid $pid)"
		fi
	fi
	rm -f "$pidfile"
}

stop_watchdog() { # up.sh's watchdog, unless it is the one running this script
	local pidfile="$RUN/watchdog.pid" pid
	[[ -f "$pidfile" ]] || return 0
	pid="$(cat "$pidfile")"
	if [[ "$pid" =~ ^[0-9]+$ && "$pid" != "$$" && "$pid" != "$PPID" ]] &&
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q ' k8s-testenv-watchdog '; then
		kill -TERM "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile"
}

if [[ ! -d "$RUN" ]]; then
	log "nothing to stop ($RUN does not exist)"
	exit 0
fi
stop_watchdog
stop kube-apiserver
stop etcd
if [[ "${KEEP_STATE:-0}" != 1 ]]; then
	rm -rf "$RUN"
fi
