# scripts/redis-cluster.sh: sourced by scripts/test after scripts/redis.sh.
# Provides one three-master Redis Cluster for the whole run: REDIS_CLUSTER_ADDRS
# from the environment if set, otherwise three cluster-enabled redis-server
# processes on free loopback ports, joined with `redis-cli --cluster create`,
# stopped on exit. Exports REDIS_CLUSTER_ADDRS ("127.0.0.1:P1,127.0.0.1:P2,...").
# Expects log(), port_in_use() and cleanup() from scripts/redis.sh.

CLUSTER_PIDS=()
CLUSTER_TMP=""
cluster_cleanup() {
	local pid
	for pid in "${CLUSTER_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${CLUSTER_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ -n "$CLUSTER_TMP" ]]; then
		rm -rf "$CLUSTER_TMP"
	fi
	cleanup
}
trap cluster_cleanup EXIT

# cluster_node_up PORT: start one cluster-enabled node; true once it answers.
cluster_node_up() {
	local port=$1 pid i
	"$REDIS_SERVER_BIN" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
		--cluster-enabled yes --cluster-config-file "$CLUSTER_TMP/nodes-$port.conf" \
		--cluster-node-timeout 5000 --daemonize no --dir "$CLUSTER_TMP" \
		--logfile "$CLUSTER_TMP/redis-$port.log" </dev/null >/dev/null 2>&1 &
	pid=$!
	for i in $(seq 1 100); do # ~10 s
		if ! kill -0 "$pid" 2>/dev/null; then
			return 1 # exited (port taken?)
		fi
		if [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == "PONG" ]]; then
			CLUSTER_PIDS+=("$pid")
			return 0
		fi
		sleep 0.1
	done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	return 1
}

start_redis_cluster() {
	local addrs=() port attempt n i info
	CLUSTER_TMP=$(mktemp -d "${TMPDIR:-/tmp}/errkit-redis-cluster.XXXXXX")
	for n in 1 2 3; do
		for attempt in 1 2 3 4 5; do
			port=$((20000 + RANDOM % 30000))
			if port_in_use "$port"; then
				continue
			fi
			if cluster_node_up "$port"; then
				addrs+=("127.0.0.1:$port")
				break
			fi
		done
	done
	if [[ ${#addrs[@]} -ne 3 ]]; then
		echo "${0##*/}: could not start three cluster nodes" >&2
		return 1
	fi
	if ! redis-cli --cluster create "${addrs[@]}" --cluster-yes >"$CLUSTER_TMP/create.log" 2>&1; then
		echo "${0##*/}: redis-cli --cluster create failed:" >&2
		cat "$CLUSTER_TMP/create.log" >&2
		return 1
	fi
	for i in $(seq 1 300); do # ~30 s for every node to agree
		info=""
		for a in "${addrs[@]}"; do
			info+=$(redis-cli -h "${a%:*}" -p "${a##*:}" cluster info 2>/dev/null | tr -d '\r' | grep -c '^cluster_state:ok$' || true)
		done
		if [[ "$info" == "111" ]]; then
			REDIS_CLUSTER_ADDRS=$(IFS=,; echo "${addrs[*]}")
			export REDIS_CLUSTER_ADDRS
			log "redis cluster on $REDIS_CLUSTER_ADDRS (pids ${CLUSTER_PIDS[*]})"
			return 0
		fi
		sleep 0.1
	done
	echo "${0##*/}: redis cluster on ${addrs[*]} did not reach cluster_state:ok" >&2
	return 1
}

if [[ -n "${REDIS_CLUSTER_ADDRS:-}" ]]; then
	log "using REDIS_CLUSTER_ADDRS from environment"
elif [[ -n "${REDIS_SERVER_BIN:-}" ]] && command -v redis-cli >/dev/null 2>&1; then
	start_redis_cluster
elif [[ "${CI:-}" == "true" ]]; then
	echo "${0##*/}: CI=true and no redis-server/redis-cli for the Redis Cluster" >&2
	exit 1
fi
