package md

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/mdlayher/kobject"
)

// Watcher receives md and DLM uevents from the kernel's kobject uevent netlink group.
type Watcher struct {
	c *kobject.Client
}

// NewWatcher opens a kobject uevent netlink socket (mdlayher/kobject). Events sent before it
// opened are not seen: read state after NewWatcher returns, then follow events.
func NewWatcher() (*Watcher, error) {
	c, err := kobject.New()
	if err != nil {
		return nil, fmt.Errorf("md: uevent socket: %w", err)
	}
	return &Watcher{c: c}, nil
}

// Next blocks until the next md or DLM uevent and returns it decoded, skipping other uevents.
// Cancelling ctx makes it return ctx's error; the Watcher stays usable.
func (w *Watcher) Next(ctx context.Context) (Event, error) {
	if err := w.c.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("md: uevent socket: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = w.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	for {
		ke, err := w.c.Receive()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("md: receive uevent: %w", err)
		}
		ev, ok, err := DecodeUevent(kobjectEnv(ke))
		if err != nil {
			return nil, err
		}
		if ok {
			return ev, nil
		}
	}
}

// Close closes the socket; a blocked Next returns an error.
func (w *Watcher) Close() error { return w.c.Close() }

// kobjectEnv puts back the fields kobject.Event lifts out of the environment.
func kobjectEnv(e *kobject.Event) map[string]string {
	env := make(map[string]string, len(e.Values)+4)
	for k, v := range e.Values {
		env[k] = v
	}
	env["ACTION"] = string(e.Action)
	env["DEVPATH"] = e.DevicePath
	env["SUBSYSTEM"] = e.Subsystem
	env["SEQNUM"] = strconv.Itoa(e.Sequence)
	return env
}
