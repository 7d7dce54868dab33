// Package nethttp is errkit's net/http adapter: the contract for services
// on http.ServeMux (or any router that speaks http.Handler), as
// func(http.Handler) http.Handler middleware.
//
// [Install] wraps a service's handler (usually its *http.ServeMux) once: it
// gives every request a request ID, recovers panics as INTERNAL, answers
// ServeMux's own 404 and 405 as the envelope (NOT_FOUND, with Allow kept on
// a 405), writes the access log, and keeps the service's error writer in
// the request's context, where [Error] finds it. Handlers that return errors
// are written with [Handler]:
//
//	mux.Handle("GET /v1/projects/{id}", nethttp.Handler(func(w http.ResponseWriter, r *http.Request) error {
//		return apierror.NotFound()
//	}))
//
// The concern middleware ([RateLimit], [KillSwitch], [Idempotency],
// [BodyLimit]) call errkit's framework-free core and render refusals with
// [Error]. Route templates come from r.Pattern, which ServeMux sets when it
// routes a request, so middleware that need the route (idempotency, rate
// limits by route) belong inside a route: mux.Handle(pattern, mw(h)).
// Other routers set [Config].Route.
//
// What net/http itself answers before any handler runs (a malformed request
// line, invalid header bytes, 431) cannot carry the envelope.
package nethttp
