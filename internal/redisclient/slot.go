package redisclient

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Slots is the number of Redis Cluster hash slots.
const Slots = 16384

// Slot returns the Redis Cluster hash slot of key: CRC16 (XMODEM) of its
// hash tag (the part between the first '{' and the next '}', when not
// empty) or of the whole key, modulo 16384, as CLUSTER KEYSLOT computes it.
// Keys with the same slot can be used together in one script or
// transaction on a cluster.
func Slot(key string) int {
	if s := strings.IndexByte(key, '{'); s >= 0 {
		if e := strings.IndexByte(key[s+1:], '}'); e > 0 {
			key = key[s+1 : s+1+e]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % Slots
}

// MasterTags returns, for a cluster client, one hash tag per slot range
// served by a master, such that a key containing "{"+tag+"}" lives on that
// master; for any other client it returns one tag. Stores use it to put a
// marker key on every node. base starts every tag.
func MasterTags(ctx context.Context, client redis.UniversalClient, base string) ([]string, error) {
	c, ok := client.(*redis.ClusterClient)
	if !ok {
		return []string{base}, nil
	}
	ranges, err := c.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("read the cluster's slots: %w", err)
	}
	tags := make([]string, 0, len(ranges))
	for _, r := range ranges {
		found := ""
		for i := 0; i < 1<<20 && found == ""; i++ {
			tag := base + strconv.Itoa(i)
			if s := Slot(tag); s >= r.Start && s <= r.End {
				found = tag
			}
		}
		if found == "" {
			return nil, fmt.Errorf("no tag found for slots %d-%d", r.Start, r.End)
		}
		tags = append(tags, found)
	}
	return tags, nil
}
