package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterMasters is the number of masters of a private cluster.
const clusterMasters = 3

// clusterReadyTimeout bounds how long a private cluster may take to agree
// that every slot is served.
const clusterReadyTimeout = 30 * time.Second

// ClusterInstance is a Redis Cluster a test can use: the shared one named by
// REDIS_CLUSTER_ADDRS or three private masters owned by the test.
type ClusterInstance struct {
	addrs   []string
	private bool
	nodes   []*Instance // private clusters only, in the order of addrs
}

// Cluster returns a Redis Cluster for the test. If REDIS_CLUSTER_ADDRS is
// set (comma-separated host:port of its nodes), that shared cluster is
// used (every node must answer PING, or the test fails); tests on it must
// keep their keys apart with Prefix. Otherwise three cluster-enabled
// redis-server processes are started on free loopback ports and joined
// with "redis-cli --cluster create", and stopped when the test ends. If no
// cluster can be obtained, the test is skipped, or fails when CI is
// "true".
func Cluster(t testing.TB) *ClusterInstance {
	t.Helper()
	if raw := os.Getenv("REDIS_CLUSTER_ADDRS"); raw != "" {
		var addrs []string
		for _, a := range strings.Split(raw, ",") {
			if a = strings.TrimSpace(a); a != "" {
				addrs = append(addrs, a)
			}
		}
		for _, a := range addrs {
			if err := ping(a, time.Second); err != nil {
				t.Fatalf("redistest: cluster node %s of REDIS_CLUSTER_ADDRS=%q does not answer PING: %v", a, raw, err)
			}
		}
		if len(addrs) == 0 {
			t.Fatalf("redistest: REDIS_CLUSTER_ADDRS=%q names no node", raw)
		}
		return &ClusterInstance{addrs: addrs}
	}
	return startCluster(t)
}

// PrivateCluster starts a three-master Redis Cluster owned by the test,
// independent of REDIS_CLUSTER_ADDRS, whose nodes the test may Pause and
// Resume (see [ClusterInstance.Node]) to stall one master while the others
// serve. Its nodes run with cluster-require-full-coverage off, so that a
// master stalled past the cluster's node timeout does not make the others
// refuse their own slots. If no cluster can be started, the test is
// skipped, or fails when CI is "true".
func PrivateCluster(t testing.TB) *ClusterInstance {
	t.Helper()
	return startCluster(t, "--cluster-require-full-coverage", "no")
}

// Node returns the node of a private cluster listening on addr, as an
// [Instance] that supports Pause and Resume. It fails the test on a shared
// cluster or for an address that is not one of its nodes.
func (c *ClusterInstance) Node(t testing.TB, addr string) *Instance {
	t.Helper()
	if !c.private {
		t.Fatalf("redistest: Node needs a private cluster (use redistest.PrivateCluster)")
	}
	for _, n := range c.nodes {
		if n.addr == addr {
			return n
		}
	}
	t.Fatalf("redistest: %s is not a node of the cluster %v", addr, c.addrs)
	return nil
}

// Addrs returns the host:port of the cluster's nodes.
func (c *ClusterInstance) Addrs() []string { return append([]string(nil), c.addrs...) }

// IsPrivate reports whether the cluster's processes are owned by the test.
func (c *ClusterInstance) IsPrivate() bool { return c.private }

// Client returns a cluster client over the nodes, honouring context
// deadlines as the errkit stores require. It is closed when the test ends.
func (c *ClusterInstance) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.addrs, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// Prefix returns a key prefix unique to this call, as Instance.Prefix.
func (c *ClusterInstance) Prefix(t testing.TB) string {
	t.Helper()
	return prefix(t)
}

// startCluster starts a private cluster, its nodes run with the extra
// redis-server arguments, or skips/fails the test.
func startCluster(t testing.TB, extra ...string) *ClusterInstance {
	t.Helper()
	bin, err := serverBinary()
	if err != nil {
		unavailable(t, err.Error())
		return nil
	}
	cli, err := cliBinary(bin)
	if err != nil {
		unavailable(t, err.Error())
		return nil
	}
	dir := t.TempDir()
	var nodes []*Instance
	t.Cleanup(func() {
		for _, n := range nodes {
			n.mu.Lock()
			p := n.proc
			n.proc = nil
			n.mu.Unlock()
			if p != nil {
				p.kill()
			}
		}
	})
	var addrs []string
	for n := 0; n < clusterMasters; n++ {
		var p *process
		var port int
		var args []string
		for attempt := 0; attempt < startAttempts && p == nil; attempt++ {
			if port, err = freePort(); err != nil {
				continue
			}
			args = append([]string{
				"--cluster-enabled", "yes",
				"--cluster-config-file", filepath.Join(dir, "nodes-"+strconv.Itoa(port)+".conf"),
				"--cluster-node-timeout", "5000",
			}, extra...)
			p, err = launch(bin, dir, port, args)
		}
		if p == nil {
			unavailable(t, fmt.Sprintf("could not start cluster node %d with %s: %v", n, bin, err))
			return nil
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		nodes = append(nodes, &Instance{url: "redis://" + addr + "/0", addr: addr, private: true,
			bin: bin, dir: dir, port: port, extra: args, proc: p})
		addrs = append(addrs, addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redistest: %s %s: %v\n%s", cli, strings.Join(args, " "), err, out)
	}
	if err := waitClusterOK(addrs); err != nil {
		t.Fatalf("redistest: private cluster %v: %v", addrs, err)
	}
	return &ClusterInstance{addrs: addrs, private: true, nodes: nodes}
}

// waitClusterOK waits until every node reports cluster_state:ok and serves
// all 16384 slots.
func waitClusterOK(addrs []string) error {
	deadline := time.Now().Add(clusterReadyTimeout)
	for {
		err := clusterOK(addrs)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func clusterOK(addrs []string) error {
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a, MaxRetries: -1, ContextTimeoutEnabled: true})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := c.ClusterInfo(ctx).Result()
		var nodes string
		if err == nil {
			nodes, err = c.ClusterNodes(ctx).Result()
		}
		cancel()
		_ = c.Close()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
			return fmt.Errorf("node %s not ready: %s", a, strings.Join(strings.Fields(info)[:min(4, len(strings.Fields(info)))], " "))
		}
		// cluster_state:ok comes before every node has its bus link to
		// every other one, and a PUBLISH travels on those links: wait
		// until this node sees all nodes, each connected and none failing
		// or still in handshake, so pub/sub reaches every node.
		if err := nodesConnected(nodes, len(addrs)); err != nil {
			return fmt.Errorf("node %s: %w", a, err)
		}
	}
	return nil
}

// nodesConnected checks a CLUSTER NODES reply: want nodes, every one
// connected and none flagged fail, fail? or handshake.
func nodesConnected(reply string, want int) error {
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(reply), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		n++
		if flags := f[2]; strings.Contains(flags, "fail") || strings.Contains(flags, "handshake") || strings.Contains(flags, "noaddr") {
			return fmt.Errorf("node %s is %s", f[1], flags)
		}
		if f[7] != "connected" {
			return fmt.Errorf("node %s link is %s", f[1], f[7])
		}
	}
	if n != want {
		return fmt.Errorf("sees %d of %d nodes", n, want)
	}
	return nil
}

// cliBinary locates redis-cli: REDIS_CLI_BIN, PATH, or next to server.
func cliBinary(server string) (string, error) {
	if bin := os.Getenv("REDIS_CLI_BIN"); bin != "" {
		p, err := exec.LookPath(bin)
		if err != nil {
			return "", fmt.Errorf("REDIS_CLI_BIN=%q is not executable: %v", bin, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("redis-cli"); err == nil {
		return p, nil
	}
	if p := filepath.Join(filepath.Dir(server), "redis-cli"); fileExists(p) {
		return p, nil
	}
	return "", fmt.Errorf("redis-cli not found on PATH, next to %s, or in REDIS_CLI_BIN", server)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
