#!/usr/bin/env bash
# Load test of GET /v1/whoami: examples/partnerapi (in memory, access log on
# and off, and with -redis) beside examples/barewhoami (the bare framework,
# same handler), measured one after the other in the same run with wrk, on
# each framework asked for.
#
#   examples/partnerapi/loadtest.sh                     # echo4, 30 s per target
#   examples/partnerapi/loadtest.sh -framework echo5    # echo v5
#   examples/partnerapi/loadtest.sh -framework nethttp  # net/http ServeMux
#   examples/partnerapi/loadtest.sh -framework all      # every framework, one run
#   DURATION=10s examples/partnerapi/loadtest.sh
#
# Needs wrk, redis-server and curl. Rates are raised so that nothing is
# limited; the script fails if any response was not a 200.
set -euo pipefail

all_frameworks=(echo4 echo5 nethttp)
frameworks=(echo4)
while [ $# -gt 0 ]; do
	case $1 in
	-framework | --framework)
		[ $# -ge 2 ] || { echo "loadtest: -framework needs a value: ${all_frameworks[*]} or all" >&2; exit 2; }
		case $2 in
		all) frameworks=("${all_frameworks[@]}") ;;
		echo4 | echo5 | nethttp) frameworks=("$2") ;;
		*) echo "loadtest: -framework $2: want one of ${all_frameworks[*]} or all" >&2; exit 2 ;;
		esac
		shift 2
		;;
	-h | --help)
		sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "loadtest: unknown argument $1 (usage: loadtest.sh [-framework echo4|echo5|nethttp|all])" >&2
		exit 2
		;;
	esac
done

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

printf '%-42s %10s %9s %9s %9s %9s %8s\n' target "req/s" p50 p99 "VmHWM" "VmRSS" non-2xx
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
	printf '%-42s %10s %9s %9s %9s %9s %8s\n' "$name" "$rps" "$p50" "$p99" "$hwm" "$rss" "${non2xx:-0}"
	if [ -n "$non2xx" ] || [ "$errors" != 0 ]; then
		echo "loadtest: $name had non-200 responses or socket errors:" >&2
		cat "$work/$name.wrk" >&2
		exit 1
	fi
}

redis_port=$((PORT + 1))
# With persistence, as the idempotency store needs in production (see
# docs/operations.md): an append-only file synced every second.
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work" --save '' --appendonly yes --appendfsync everysec >"$work/redis.log" 2>&1 &
pids+=("$!")
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis=(-redis "redis://127.0.0.1:$redis_port/0")

for fw in "${frameworks[@]}"; do
	f=(-framework "$fw")
	measure "barewhoami $fw" "$work/barewhoami" -addr "127.0.0.1:$PORT" "${f[@]}"
	case $fw in
	echo4 | echo5) # the chain a team on this framework would pick instead
		measure "barewhoami $fw-chain" "$work/barewhoami" -addr "127.0.0.1:$PORT" -framework "$fw-chain" ;;
	esac
	measure "partnerapi $fw" "$work/partnerapi" -addr "127.0.0.1:$PORT" "${f[@]}" "${unlimited[@]}"
	measure "partnerapi $fw -access-log=false" "$work/partnerapi" -addr "127.0.0.1:$PORT" "${f[@]}" -access-log=false "${unlimited[@]}"
	measure "partnerapi $fw -redis" "$work/partnerapi" -addr "127.0.0.1:$PORT" "${f[@]}" "${redis[@]}" "${unlimited[@]}"
	measure "partnerapi $fw -redis -access-log=false" "$work/partnerapi" -addr "127.0.0.1:$PORT" "${f[@]}" "${redis[@]}" -access-log=false "${unlimited[@]}"
done

echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency on GET /v1/whoami; $(nproc) cores; $(go version | cut -d' ' -f3)"
