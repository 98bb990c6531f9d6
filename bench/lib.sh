# shellcheck shell=bash
# What the bench scripts share; they source it (". bench/lib.sh" from the
# repository root).

# free_port: a TCP port free on 127.0.0.1 at this moment (servers the
# benchmarks start listen on loopback only, on ports picked this way).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# bench_tmp NAME: makes tmp, a new /tmp/panoptes-NAME.XXXXXX, and pids, an
# empty list for the script to append the pids of what it starts to. On
# exit every pid in pids is stopped (by pid) and waited for, and tmp is
# removed, or kept with KEEP=1. An interrupt exits with 130.
bench_tmp() {
	tmp=$(mktemp -d "/tmp/panoptes-$1.XXXXXX")
	pids=()
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

bench_cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "${KEEP:-}" = 1 ]; then echo "bench: kept $tmp" >&2; else rm -rf "$tmp"; fi
}

# uncache WORD...: drops from the page cache every WORD that is a file
# (posix_fadvise DONTNEED, through dd), so that each binary a benchmark
# compares is read back from disk the same way before it starts, as a
# container image's binary is. A binary that go build has just written can
# sit in the page cache so that the kernel maps much more of it around each
# page fault: measured on this machine, an idle `panoptes server` held
# 96 MiB of its binary resident right after the build, and 67 MiB after
# this (Prometheus's peer, built long before, 64 MiB). File-backed RSS is
# part of every RSS figure here, so every side starts this way. Words that
# are not files (a command's arguments) are skipped.
uncache() {
	local w
	for w in "$@"; do
		[ -f "$w" ] || continue
		dd if="$w" iflag=nocache count=0 status=none || echo "bench: could not drop $w from the page cache" >&2
	done
}
