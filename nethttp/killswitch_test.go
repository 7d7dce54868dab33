package nethttp_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/layershq/errkit/nethttp"
)

// The kill switches' wire behaviour (every scope, the global guard in
// front of authentication, the operator API end to end) is checked by the
// conformance suite (conformance_test.go).

func TestKillSwitchNilPanics(t *testing.T) {
	assert.PanicsWithValue(t, "errkit/nethttp: KillSwitch: nil *killswitch.Guard", func() { nethttp.KillSwitch(nil) })
	assert.PanicsWithValue(t, "errkit/nethttp: Admin: nil *killswitch.Admin", func() { nethttp.Admin(nil) })
}
