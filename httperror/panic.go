package httperror

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
)

// DefaultStackSize is the number of bytes of stack a [*PanicError] keeps
// when the adapter's configuration does not say.
const DefaultStackSize = 8 << 10

// PanicError is a recovered panic. The [Writer] always renders it as
// INTERNAL (whatever the panic value is, an *apierror.Error included) and
// logs Value and Stack against the request ID: the Stack in full once per
// [Config].StackLogInterval for identical stacks, and in between a
// stackId and a repeat count in its place.
type PanicError struct {
	// Value is what was passed to panic.
	Value any
	// Stack is the stack trace of the panicking goroutine, possibly cut.
	Stack []byte
}

// Error returns "panic: " and the panic value. It is for logs only: the
// [Writer] never renders it.
func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// StatusCode returns 500: a panic is always INTERNAL, whatever its value,
// also to middleware that ask for the status before the error is rendered
// (echo v5's RequestLogger, labstack's echo-otel).
func (e *PanicError) StatusCode() int { return http.StatusInternalServerError }

// Unwrap returns the panic value when it is an error, so that errors.Is and
// errors.As see through the panic.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Recovered turns a value returned by recover() into a *PanicError holding
// at most stackSize bytes of the current goroutine's stack (a stackSize of 0
// or less means [DefaultStackSize]). Call it in the deferred function that
// recovered. A panic with http.ErrAbortHandler is panicked again, as
// net/http expects of handlers that abort a response.
func Recovered(v any, stackSize int) *PanicError {
	if e, ok := v.(error); ok && errors.Is(e, http.ErrAbortHandler) {
		panic(v)
	}
	if stackSize <= 0 {
		stackSize = DefaultStackSize
	}
	stack := make([]byte, stackSize)
	stack = stack[:runtime.Stack(stack, false)]
	return &PanicError{Value: v, Stack: stack}
}
