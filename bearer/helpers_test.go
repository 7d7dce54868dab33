package bearer_test

import (
	"io"
	"log/slog"
)

// newLogger returns a JSON logger at debug level writing into w.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
