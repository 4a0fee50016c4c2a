package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// maxLine bounds one line of a stream (an event, a grant with its cursor).
const maxLine = 1 << 20

// Events reads the event log after seq since (at most limit events; 0: all kept) and, with
// follow, every new event until ctx ends. fn's error ends the read and is returned.
func (c *Client) Events(ctx context.Context, since int64, limit int, follow bool, fn func(Event) error) error {
	q := url.Values{"since": {strconv.FormatInt(since, 10)}, "limit": {strconv.Itoa(limit)}}
	if follow {
		q.Set("follow", "1")
	}
	return c.stream(ctx, http.MethodGet, "/v1/events?"+q.Encode(), nil, func(line []byte) error {
		var e struct {
			Event
			Err string `json:"error"`
		}
		if err := json.Unmarshal(line, &e); err != nil {
			return fmt.Errorf("api /v1/events: decode %q: %w", line, err)
		}
		if e.Err != "" {
			return errors.New(e.Err)
		}
		return fn(e.Event)
	})
}

// Report logs an event on behalf of the caller.
func (c *Client) Report(ctx context.Context, r ReportRequest) error {
	return c.do(ctx, http.MethodPost, "/v1/events", r, nil)
}

// HoldMonitor waits for the delivery lease of a shared array and holds it until ctx ends (then
// the agent gives it back). fn gets the grant, and later a grant with Lost if the lease went.
func (c *Client) HoldMonitor(ctx context.Context, r MonitorHoldRequest, fn func(MonitorGrant) error) error {
	return c.stream(ctx, http.MethodPost, "/v1/monitor/hold", r, func(line []byte) error {
		var g MonitorGrant
		if err := json.Unmarshal(line, &g); err != nil {
			return fmt.Errorf("api /v1/monitor/hold: decode %q: %w", line, err)
		}
		return fn(g)
	})
}

// SaveCursor advances a delivery cursor (a *RemoteError with Code 409 when it moved meanwhile).
func (c *Client) SaveCursor(ctx context.Context, r CursorRequest) (CursorReply, error) {
	var rep CursorReply
	err := c.do(ctx, http.MethodPost, "/v1/monitor/cursor", r, &rep)
	return rep, err
}

// Scrub asks the agent to start or cancel a scrub under its leases.
func (c *Client) Scrub(ctx context.Context, r ScrubRequest) (ScrubReply, error) {
	var rep ScrubReply
	err := c.do(ctx, http.MethodPost, "/v1/scrub", r, &rep)
	return rep, err
}

// stream sends a request and hands every line of a 2xx reply to fn until the reply ends.
func (c *Client) stream(ctx context.Context, method, path string, in any, fn func([]byte) error) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return remoteError(resp.StatusCode, b)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := fn(sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("api %s: %w", path, err)
	}
	return ctx.Err()
}
