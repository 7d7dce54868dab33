package ratelimit

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClassCheck(t *testing.T) {
	tests := []struct {
		name  string
		class Class
		cost  int
		want  time.Duration // the interval, when valid
		err   error
	}{
		{"one per second", Class{Name: "read", Rate: Rate{PerSecond: 1, Burst: 3}}, 3, time.Second, nil},
		{"interval rounded up", Class{Name: "r", Rate: Rate{PerSecond: 3, Burst: 1}}, 1, 333333334, nil},
		{"at least 1ns", Class{Name: "r", Rate: Rate{PerSecond: 1e12, Burst: 1}}, 1, 1, nil},
		{"longest name, every allowed byte", Class{Name: strings.Repeat("aZ09_-.", 10)[:64], Rate: Rate{PerSecond: 1, Burst: 1}}, 1, time.Second, nil},
		// 1e9/2^22 tokens per second: an interval of exactly 2^22 ns.
		{"window at the bound", Class{Name: "r", Rate: Rate{PerSecond: 1e9 / (1 << 22), Burst: 1 << 30}}, 1, 1 << 22, nil},
		{"window past the bound", Class{Name: "r", Rate: Rate{PerSecond: 1e9 / (1 << 22), Burst: 1<<30 + 1}}, 1, 0, ErrInvalidClass},
		{"window past the bound, product overflowing 64 bits", Class{Name: "r", Rate: Rate{PerSecond: 1e-6, Burst: 1 << 30}}, 1, 0, ErrInvalidClass},
		{"name too long", Class{Name: strings.Repeat("a", 65), Rate: Rate{PerSecond: 1, Burst: 1}}, 1, 0, ErrInvalidClass},
		{"name with space", Class{Name: "a b", Rate: Rate{PerSecond: 1, Burst: 1}}, 1, 0, ErrInvalidClass},
		{"name with a high byte", Class{Name: "caf\xc3\xa9", Rate: Rate{PerSecond: 1, Burst: 1}}, 1, 0, ErrInvalidClass},
		{"cost above burst", Class{Name: "r", Rate: Rate{PerSecond: 1, Burst: 1}}, 2, 0, ErrInvalidCost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iv, err := tt.class.Check(tt.cost)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				assert.Zero(t, iv)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, iv)
		})
	}
}

// TestValidNameBytes: exactly ASCII letters, digits, '_', '-' and '.' make
// a one-byte class name.
func TestValidNameBytes(t *testing.T) {
	for c := range 256 {
		want := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.'
		assert.Equal(t, want, validName(string([]byte{byte(c)})), "byte %#x", c)
	}
}
