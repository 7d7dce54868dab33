package redisclient

import (
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
)

func TestChecks(t *testing.T) {
	var nilClient *redis.Client
	for _, tc := range []struct {
		name      string
		c         redis.UniversalClient
		isNil     bool
		deadlines bool
	}{
		{"nil", nil, true, true},
		{"typed nil", nilClient, true, false},
		{"deadlines on", redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true}), false, true},
		{"deadlines off", redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), false, false},
		{"cluster off", redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}}), false, false},
		{"cluster on", redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}, ContextTimeoutEnabled: true}), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.isNil, IsNil(tc.c))
			if !tc.isNil {
				assert.Equal(t, tc.deadlines, HonoursDeadlines(tc.c))
				_ = tc.c.Close()
			}
		})
	}
}
