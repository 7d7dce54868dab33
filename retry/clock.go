package retry

import (
	"context"
	"time"
)

// Clock is the time source of a Transport: Now dates an HTTP-date Retry-After
// header, Sleep performs every wait between attempts. Tests inject a Clock to
// observe the exact waits without sleeping.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep waits d, or less if ctx ends first, in which case it returns
	// ctx.Err(). It returns nil after a full wait; a d <= 0 returns at once.
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock is the real clock: time.Now and a timer that is stopped as soon
// as the context ends, so a cancelled wait leaves nothing behind.
var SystemClock Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
