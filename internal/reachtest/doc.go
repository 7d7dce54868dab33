// Package reachtest holds the tests behind two claims of errkit's docs,
// checked on real loopback listeners with raw TCP clients against the Go
// toolchain in use:
//
//   - what net/http's server answers by itself, before any handler (and so
//     before errkit) runs: those answers cannot carry the envelope
//     (docs/security.md, "What errkit can't answer");
//   - that the http.Server settings docs/operations.md recommends cut slow
//     headers, slow bodies, slow writes and idle keep-alives, and let a
//     graceful shutdown finish with such connections open.
//
// It has no non-test code: a net/http upgrade that changes one of these
// answers fails here, and the docs are corrected with it.
package reachtest
