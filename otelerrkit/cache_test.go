package otelerrkit

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/event"
)

// TestCacheOverflow checks that the counts stay bounded when a service has
// more attribute sets than a cache keeps: the rest are counted in one
// overflow series per counter.
func TestCacheOverflow(t *testing.T) {
	tests := []struct {
		name string
		run  func() (kept int, overflow int64)
	}{
		{name: "errors", run: func() (int, int64) {
			var c cache[errorKey]
			for i := range maxCachedAttributeSets + 10 {
				c.get(errorKey{code: apierror.CodeNotFound, route: fmt.Sprintf("/r%d", i), method: "GET", status: 404}, buildError).n.Add(1)
			}
			return len(c.byKey()), c.byKey()[overflowKey(errorKey{})].n.Load()
		}},
		{name: "others", run: func() (int, int64) {
			var c cache[otherKey]
			for i := range maxCachedAttributeSets + 10 {
				c.get(otherKey{kind: event.KindRateLimit, a: fmt.Sprintf("class%d", i), b: "allowed"}, buildOther).n.Add(1)
			}
			return len(c.byKey()), c.byKey()[overflowKey(otherKey{kind: event.KindRateLimit})].n.Load()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kept, overflow := tt.run()
			assert.Equal(t, maxCachedAttributeSets+1, kept, "the cap and the overflow series")
			assert.Equal(t, int64(10), overflow)
		})
	}
	var c cache[errorKey]
	s := c.get(errorKey{code: apierror.CodeInternal}, buildError)
	assert.Same(t, s, c.get(errorKey{code: apierror.CodeInternal}, buildError), "one series per key")
	assert.Zero(t, testing.AllocsPerRun(100, func() { c.get(errorKey{code: apierror.CodeInternal}, buildError).n.Add(1) }))
}
