package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
)

// ErrAgentDown is returned when nothing answers on the socket.
var ErrAgentDown = errors.New("api: mdclusterd is not running")

// Client talks to a local mdclusterd.
type Client struct {
	Socket string
	hc     *http.Client
}

// NewClient returns a client for the agent listening at socket.
func NewClient(socket string) *Client {
	return &Client{Socket: socket, hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}}}}
}

// RemoteError is a non-2xx reply from the agent.
type RemoteError struct {
	Code int
	Body Error
}

func (e *RemoteError) Error() string { return e.Body.Error }

// Status returns the agent's view of the cluster.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
	return s, err
}

// Acquire asks the agent for a lease.
func (c *Client) Acquire(ctx context.Context, r AcquireRequest) (Grant, error) {
	var g Grant
	err := c.do(ctx, http.MethodPost, "/v1/acquire", r, &g)
	return g, err
}

// Release gives a lease back.
func (c *Client) Release(ctx context.Context, r ReleaseRequest) error {
	return c.do(ctx, http.MethodPost, "/v1/release", r, nil)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("api %s: read reply: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		return remoteError(resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("api %s: decode reply: %w", path, err)
		}
	}
	return nil
}

// send makes a request to the agent; a socket nobody listens on is ErrAgentDown. The caller
// closes the reply's body.
func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://mdclusterd"+path, body)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, fmt.Errorf("%w (%s: %v)", ErrAgentDown, c.Socket, op.Err)
		}
		return nil, fmt.Errorf("api %s: %w", path, err)
	}
	return resp, nil
}

// remoteError is the agent's refusal with status code: its JSON error body, or the raw text.
func remoteError(code int, b []byte) *RemoteError {
	re := &RemoteError{Code: code}
	if json.Unmarshal(b, &re.Body) != nil || re.Body.Error == "" {
		re.Body.Error = fmt.Sprintf("HTTP %d: %s", code, bytes.TrimSpace(b))
	}
	return re
}
