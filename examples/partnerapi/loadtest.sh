#!/usr/bin/env bash
# Load test of GET /v1/whoami: examples/partnerapi (in memory, access log on
# and off, and with -redis) beside examples/barewhoami (bare echo, same
# handler), measured one after the other in the same run with wrk.
#
#   examples/partnerapi/loadtest.sh            # 30 s per target
#   DURATION=10s examples/partnerapi/loadtest.sh
#
# Needs wrk, redis-server and curl. Rates are raised so that nothing is
# limited; the script fails if any response was not a 200.
set -euo pipefail

DURATION=${DURATION:-30s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
PORT=${PORT:-18480}        # servers listen on PORT, redis on PORT+1
KEY=lp_demo_full

cd "$(dirname "$0")/../.."
for tool in wrk redis-server redis-cli curl; do
	command -v "$tool" >/dev/null || { echo "loadtest: $tool not found (apt-get install -y wrk redis-server redis-tools curl)" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/partnerapi" ./examples/partnerapi
go build -o "$work/barewhoami" ./examples/barewhoami
unlimited=(-read-rate 1e9 -read-burst 1e9 -write-rate 1e9 -write-burst 1e9)

wait_healthy() { # url
	for _ in $(seq 100); do
		curl -fsS -o /dev/null -H "Authorization: Bearer $KEY" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "loadtest: $1 never answered" >&2
	exit 1
}

printf '%-34s %10s %9s %9s %9s %9s %8s\n' target "req/s" p50 p99 "VmHWM" "VmRSS" non-2xx
measure() { # name, then the command
	local name=$1; shift
	"$@" >"$work/$name.out" 2>"$work/$name.err" &
	local pid=$!
	pids+=("$pid")
	local url="http://127.0.0.1:$PORT/v1/whoami"
	wait_healthy "$url"
	wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $KEY" "$url" >"$work/$name.wrk"
	local hwm rss
	hwm=$(awk '/^VmHWM/ {print $2 $3}' "/proc/$pid/status")
	rss=$(awk '/^VmRSS/ {print $2 $3}' "/proc/$pid/status")
	kill -INT "$pid"
	wait "$pid"
	local rps p50 p99 non2xx
	rps=$(awk '/^Requests\/sec/ {print $2}' "$work/$name.wrk")
	p50=$(awk '$1 == "50%" {print $2}' "$work/$name.wrk")
	p99=$(awk '$1 == "99%" {print $2}' "$work/$name.wrk")
	non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/$name.wrk")
	errors=$(grep -c 'Socket errors' "$work/$name.wrk" || true)
	printf '%-34s %10s %9s %9s %9s %9s %8s\n' "$name" "$rps" "$p50" "$p99" "$hwm" "$rss" "${non2xx:-0}"
	if [ -n "$non2xx" ] || [ "$errors" != 0 ]; then
		echo "loadtest: $name had non-200 responses or socket errors:" >&2
		cat "$work/$name.wrk" >&2
		exit 1
	fi
}

measure barewhoami "$work/barewhoami" -addr "127.0.0.1:$PORT"
measure partnerapi "$work/partnerapi" -addr "127.0.0.1:$PORT" "${unlimited[@]}"
measure "partnerapi -access-log=false" "$work/partnerapi" -addr "127.0.0.1:$PORT" -access-log=false "${unlimited[@]}"

redis_port=$((PORT + 1))
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 &
pids+=("$!")
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
measure "partnerapi -redis" "$work/partnerapi" -addr "127.0.0.1:$PORT" -redis "redis://127.0.0.1:$redis_port/0" "${unlimited[@]}"
measure "partnerapi -redis -access-log=false" "$work/partnerapi" -addr "127.0.0.1:$PORT" -redis "redis://127.0.0.1:$redis_port/0" -access-log=false "${unlimited[@]}"

echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency on GET /v1/whoami; $(nproc) cores; $(go version | cut -d' ' -f3)"
