# scripts/redis.sh: sourced by scripts/test and scripts/bench. Provides one
# redis-server for the whole run: REDIS_URL from the environment if set,
# otherwise redis-server (installed with apt-get when missing and root) on a
# free loopback port, stopped on exit. Exports REDIS_URL and REDIS_SERVER_BIN.
# Expects log() to be defined.

REDIS_PID=""
REDIS_TMP=""
cleanup() {
	if [[ -n "$REDIS_PID" ]]; then
		kill "$REDIS_PID" 2>/dev/null || true
		wait "$REDIS_PID" 2>/dev/null || true
	fi
	if [[ -n "$REDIS_TMP" ]]; then
		rm -rf "$REDIS_TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_redis_server() {
	if command -v redis-server >/dev/null 2>&1; then
		return 0
	fi
	if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		log "installing redis-server (apt-get)"
		local out
		if ! out=$(DEBIAN_FRONTEND=noninteractive apt-get update -qq 2>&1 </dev/null); then
			printf '%s\n' "$out" >&2
			echo "${0##*/}: apt-get update failed" >&2
			return 1
		fi
		if ! out=$(DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			-o DPkg::Lock::Timeout=120 redis-server 2>&1 </dev/null); then
			printf '%s\n' "$out" >&2
			echo "${0##*/}: apt-get install redis-server failed" >&2
			return 1
		fi
		command -v redis-server >/dev/null 2>&1 && return 0
		echo "${0##*/}: redis-server still not on PATH after install" >&2
		return 1
	fi
	echo "${0##*/}: redis-server is not installed and this is not root; install it" \
		"(e.g. 'sudo apt-get install redis-server' or 'brew install redis') or set REDIS_URL." \
		"Redis-backed tests will be skipped locally and fail under CI=true." >&2
	return 1
}

# port_in_use PORT: true if something accepts connections on 127.0.0.1:PORT.
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

redis_ping() {
	if command -v redis-cli >/dev/null 2>&1; then
		[[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" == "PONG" ]]
	else
		(
			exec 4<>"/dev/tcp/127.0.0.1/$1" || exit 1
			printf 'PING\r\n' >&4
			IFS= read -r -t 1 reply <&4 || exit 1
			[[ "$reply" == $'+PONG\r' ]]
		) 2>/dev/null
	fi
}

start_redis() {
	local bin port attempt i
	bin=$(command -v redis-server)
	export REDIS_SERVER_BIN="$bin"
	REDIS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/errkit-redis.XXXXXX")
	for attempt in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 30000))
		if port_in_use "$port"; then
			continue
		fi
		"$bin" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
			--daemonize no --dir "$REDIS_TMP" --logfile "$REDIS_TMP/redis.log" \
			</dev/null >/dev/null 2>&1 &
		REDIS_PID=$!
		for i in $(seq 1 100); do # ~10 s
			if ! kill -0 "$REDIS_PID" 2>/dev/null; then
				break # exited (port taken?): try another port
			fi
			if redis_ping "$port"; then
				export REDIS_URL="redis://127.0.0.1:$port/0"
				log "redis-server on 127.0.0.1:$port (pid $REDIS_PID)"
				return 0
			fi
			sleep 0.1
		done
		kill "$REDIS_PID" 2>/dev/null || true
		wait "$REDIS_PID" 2>/dev/null || true
		REDIS_PID=""
	done
	echo "${0##*/}: could not start redis-server; last log:" >&2
	tail -n 20 "$REDIS_TMP/redis.log" >&2 || true
	return 1
}

if [[ -n "${REDIS_URL:-}" ]]; then
	log "using REDIS_URL from environment"
	if [[ -z "${REDIS_SERVER_BIN:-}" ]] && command -v redis-server >/dev/null 2>&1; then
		export REDIS_SERVER_BIN="$(command -v redis-server)"
	fi
elif ensure_redis_server; then
	start_redis
elif [[ "${CI:-}" == "true" ]]; then
	echo "${0##*/}: CI=true and no redis-server available" >&2
	exit 1
fi

