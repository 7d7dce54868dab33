package redisclient

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// maxClockRTT is the longest round trip a clock sample may take: the offset
// it yields is uncertain by half of it.
const maxClockRTT = 50 * time.Millisecond

// Clock estimates the offset between this process's clock and Redis's
// (TIME), from the replies of scripts that return Redis's time, so that a
// store can tell a script the caller's deadline in Redis time. A script
// given that deadline refuses to change anything once it has passed: a
// command queued while Redis stalled (SIGSTOP, a long fork, a paused VM)
// and run after its caller gave up then does nothing, instead of taking a
// lease or tokens nobody will use. The zero value is ready; it knows no
// offset until the first sample. A Clock is for one server: the masters of
// a cluster each have their own clock, hence [Clocks].
type Clock struct {
	offset atomic.Int64 // Redis µs minus local µs
	known  atomic.Bool
}

// Observe records one sample: a call sent at sent and answered at recv
// reported Redis's time redisMicros (µs since the UNIX epoch). Samples whose
// round trip exceeds 50 ms are ignored.
//
// Redis read its clock somewhere between sent and recv, so the offset is
// at least redisMicros - recv; the fence uses that lower bound, so that a
// deadline in Redis time is never later than the caller's real one. The
// price is that a call Redis runs within one round trip of its deadline
// may be refused although its reply could still have arrived in time.
func (c *Clock) Observe(sent, recv time.Time, redisMicros int64) {
	rtt := recv.Sub(sent)
	if rtt < 0 || rtt > maxClockRTT || redisMicros <= 0 {
		return
	}
	c.offset.Store(redisMicros - recv.UnixMicro())
	c.known.Store(true)
}

// Deadline returns ctx's deadline in Redis time (µs since the UNIX epoch),
// or 0 when ctx has no deadline or no offset is known yet (the script then
// applies no fence).
func (c *Clock) Deadline(ctx context.Context) int64 {
	d, ok := ctx.Deadline()
	if !ok || !c.known.Load() {
		return 0
	}
	return d.UnixMicro() + c.offset.Load()
}

// maxClocks bounds the nodes a [Clocks] keeps: past it (only after much
// churn of a cluster's addresses) it forgets them all and learns again.
const maxClocks = 1024

// Clocks keeps one [Clock] per node (as [Gate.Node] names them), so that
// the skew between the masters of a cluster does not move one master's
// fence by another's offset: a script is fenced by the offset of the node
// that runs it. The zero value is ready.
type Clocks struct {
	mu sync.RWMutex
	m  map[string]*Clock
}

// For returns node's clock, creating it (with no offset known) on first
// use.
func (c *Clocks) For(node string) *Clock {
	c.mu.RLock()
	k := c.m[node]
	c.mu.RUnlock()
	if k != nil {
		return k
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if k = c.m[node]; k != nil {
		return k
	}
	if c.m == nil || len(c.m) >= maxClocks {
		c.m = map[string]*Clock{}
	}
	k = &Clock{}
	c.m[node] = k
	return k
}
