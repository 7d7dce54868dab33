// Package retry is a Go client for the Partner API that follows the
// contract's retry guidance ("Safe defaults, if you're writing this once and
// forgetting it") as code, so that consumers do not re-derive it.
//
// What to do about an error response is not a second table of codes: the
// response is decoded with apierror.DecodeResponse and the catalogue's advice
// for its code (Spec.Retry.Kind) decides. RATE_LIMITED waits exactly
// Retry-After / details.retryAfterMs, without jitter; INTERNAL,
// WORKFLOW_START_FAILED and unknown 5xx codes back off exponentially with
// jitter; PLATFORM_ERROR with retryAfterMs waits exactly that and retries
// once, without it is not retried; CIRCUIT_OPEN waits retryAfterSeconds and
// probes with one request, again while it stays open; CONFLICT with
// details.reason "idempotency_key_in_use" (the first request with the same
// Idempotency-Key may still be running) waits Retry-After (1 s when absent)
// and retries once with the same key, which then replays or runs; other
// caller bugs and policy gates (KILL_SWITCH included) are returned as they
// are.
//
// Every attempt reuses the request's Idempotency-Key (a POST or PATCH without
// one gets a key generated once, before the first attempt), bodies are
// replayed, network errors are retried only when that is safe, waits honour
// the context, and a server asking for a wait longer than Policy.MaxWait
// (60 s by default) gets its error back at once instead of a parked
// goroutine.
//
// Two shapes share one engine: Transport, an http.RoundTripper that returns
// the last response as is, for use under any http.Client; and Client.Do,
// which returns the decoded contract error wrapped in a *Error with the
// attempt count:
//
//	c := &retry.Client{Transport: &retry.Transport{
//		OnAttempt: func(a retry.Attempt) { log.Printf("attempt %d: %s %v", a.N, a.Decision, a.Wait) },
//	}}
//	resp, err := c.Do(ctx, req)
//	if err != nil {
//		switch apierror.CodeOf(err) { ... }
//	}
package retry
