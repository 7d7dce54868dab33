#!/usr/bin/env bash
# Hostile-client figures of docs/security.md, measured on the real binary
# (in memory, default flags but for the ones named):
#
#   1. failed-auth requests admitted per second per IP: wrk sends a wrong
#      API key from one address for DURATION, with the failed-auth throttle
#      at its defaults (burst 10, then 1/s) and switched off (a budget no
#      client reaches); the access log counts 401s (answered) and 429s
#      (refused);
#   2. how long before a slow body is cut: curl sends an authenticated POST
#      at 10 bytes/s with the default -read-timeout (30s).
#
#   examples/partnerapi/abusetest.sh                    # echo4
#   FRAMEWORK=nethttp DURATION=10s examples/partnerapi/abusetest.sh
#
# Needs wrk and curl.
set -euo pipefail

framework=${FRAMEWORK:-echo4}
duration=${DURATION:-10s}
port=${PORT:-18089}
base="http://127.0.0.1:$port"
dir=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$dir"' EXIT

cd "$(dirname "$0")"
go build -o "$dir/partnerapi" .

start() { # start <log> <flags...>
	local log=$1
	shift
	"$dir/partnerapi" -addr "127.0.0.1:$port" -framework "$framework" "$@" >/dev/null 2>"$log" &
	pid=$!
	for _ in $(seq 100); do
		curl -fs "$base/healthz" >/dev/null 2>&1 && return
		sleep 0.1
	done
	echo "abusetest: the demo did not start" >&2
	exit 1
}

stop() {
	kill -TERM "$pid"
	wait "$pid" || true
	pid=
}

secs=${duration%s}
guess() { # guess <label> <flags...>
	local label=$1
	shift
	start "$dir/$label.log" "$@"
	wrk -t2 -c32 -d"$duration" -H 'Authorization: Bearer lp_wrong_guess' "$base/v1/whoami" >"$dir/$label.wrk"
	stop
	local n401 n429
	n401=$(grep -c '"msg":"request".*"status":401' "$dir/$label.log" || true)
	n429=$(grep -c '"msg":"request".*"status":429' "$dir/$label.log" || true)
	printf '%-28s %9d answered 401 (%.1f/s), %9d refused 429, over %ss\n' "$label" "$n401" "$(echo "$n401 / $secs" | bc -l)" "$n429" "$secs"
}

echo "wrong-key guesses from one IP, $framework, $duration each:"
guess "throttle off" -auth-failure-rate 1e9 -auth-failure-burst 1e9
guess "throttle on (defaults)"

echo "slow body (10 bytes/s, 1 KiB announced), default -read-timeout:"
start "$dir/slow.log"
head -c 1024 /dev/zero | tr '\0' 'a' | sed 's/^/{"hook":"/' >"$dir/body"
t0=$(date +%s.%N)
code=$(curl -s -o /dev/null -w '%{http_code}' --limit-rate 10 -H 'Authorization: Bearer lp_demo_full' \
	-H 'Content-Type: application/json' --data-binary @"$dir/body" "$base/v1/projects/prj_auto/content" || true)
t1=$(date +%s.%N)
stop
printf 'answered %s after %.1fs\n' "$code" "$(echo "$t1 - $t0" | bc -l)"
