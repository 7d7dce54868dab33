package killswitch

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/layershq/errkit/principal"
)

// benchMemory switches off n keys and n organizations.
func benchMemory(b *testing.B, n int) *MemoryStore {
	b.Helper()
	m, err := NewMemoryStore(MemoryConfig{})
	if err != nil {
		b.Fatal(err)
	}
	sw := make([]Switch, 0, 2*n)
	for i := 0; i < n; i++ {
		sw = append(sw,
			Switch{Scope: ScopeKey, ID: "key_" + strconv.Itoa(i), Reason: "abuse"},
			Switch{Scope: ScopeOrganization, ID: "org_" + strconv.Itoa(i), Reason: "unpaid"})
	}
	if err := m.Replace(context.Background(), sw); err != nil {
		b.Fatal(err)
	}
	return m
}

// The IDs a benchmark checks: a request matching nothing (the common case:
// both lookups miss), a switched-off key, a switched-off organization.
var benchCases = []struct {
	name, key, org string
	on             bool
}{
	{"miss", "key_live_000042", "org_live_000042", false},
	{"key", "key_4242", "org_live_000042", true},
	{"organization", "key_live_000042", "org_4242", true},
}

func BenchmarkCheck(b *testing.B) {
	m := benchMemory(b, 10000)
	for _, bc := range benchCases {
		b.Run(bc.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, on := m.Check(bc.key, bc.org); on != bc.on {
					b.Fatalf("Check(%q, %q) on = %v", bc.key, bc.org, on)
				}
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, on := m.Check(bc.key, bc.org); on != bc.on {
						b.Errorf("Check(%q, %q) on = %v", bc.key, bc.org, on)
						return
					}
				}
			})
		})
	}
}

// BenchmarkGuardCheck is Check as an adapter calls it: the principal read
// from the request, then the store's lookup.
func BenchmarkGuardCheck(b *testing.B) {
	g, err := New(Config{Checker: benchMemory(b, 10000)})
	if err != nil {
		b.Fatal(err)
	}
	h := http.Header{}
	for _, bc := range benchCases {
		r := principal.Set(httptest.NewRequest(http.MethodGet, "/v1/ping", nil), principal.Principal{KeyID: bc.key, OrganizationID: bc.org})
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := g.Check(h, r); (err != nil) != bc.on {
					b.Fatalf("Check = %v", err)
				}
			}
		})
	}
}

// BenchmarkBaselineMapLookup is the baseline the README compares Check to:
// one runtime map lookup of a missing key among 10k.
func BenchmarkBaselineMapLookup(b *testing.B) {
	m := make(map[string]*Switch, 10000)
	for i := 0; i < 10000; i++ {
		m["key_"+strconv.Itoa(i)] = &Switch{}
	}
	for b.Loop() {
		if _, ok := m["key_live_000042"]; ok {
			b.Fatal("found")
		}
	}
}
