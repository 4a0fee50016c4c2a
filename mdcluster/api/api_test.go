package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type fakeBackend struct{ held map[string]string }

func (f *fakeBackend) Status(context.Context) (Status, error) {
	return Status{Node: "n1", NodeID: 1, Cluster: "c", Members: []Member{{Name: "n1", ID: 1}}}, nil
}

func (f *fakeBackend) Acquire(_ context.Context, r AcquireRequest) (Grant, error) {
	if h := f.held[r.Array+"/"+r.Kind]; h != "" {
		return Grant{}, &HeldError{Kind: r.Kind, Array: r.Array, Holder: h}
	}
	if r.Array == "broken" {
		return Grant{}, errors.New("engine unavailable")
	}
	return Grant{Array: r.Array, Kind: r.Kind, Token: 42}, nil
}

func (f *fakeBackend) Release(context.Context, ReleaseRequest) error { return nil }

func serve(t *testing.T, uid int) (*Client, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "run", "api.sock")
	s := &Server{Backend: &fakeBackend{held: map[string]string{"data/activation": "node2"}},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), AllowUID: uid}
	if err := s.Listen(sock); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return NewClient(sock), sock
}

func TestSocketIsRootOnly(t *testing.T) {
	_, sock := serve(t, os.Getuid())
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket mode = %v, want a socket with 0600", fi.Mode())
	}
}

func TestStatusAndAcquire(t *testing.T) {
	c, _ := serve(t, os.Getuid())
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Status{Node: "n1", NodeID: 1, Cluster: "c", Members: []Member{{Name: "n1", ID: 1}}}, st); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	g, err := c.Acquire(ctx, AcquireRequest{Array: "logs", Kind: KindRecovery, Owner: "test"})
	if err != nil || g != (Grant{Array: "logs", Kind: KindRecovery, Token: 42}) {
		t.Fatalf("acquire = %+v, %v", g, err)
	}
	if err := c.Release(ctx, ReleaseRequest{Array: "logs", Kind: KindRecovery, Token: 42}); err != nil {
		t.Fatal(err)
	}
}

func TestAcquireErrors(t *testing.T) {
	c, _ := serve(t, os.Getuid())
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		req    AcquireRequest
		code   int
		msg    string
		holder string
	}{
		{"held elsewhere", AcquireRequest{Array: "data", Kind: KindActivation}, 409, "activation lease on data is held by node2", "node2"},
		{"bad kind", AcquireRequest{Array: "data", Kind: "everything"}, 400, `kind: "everything" is not one of`, ""},
		{"no array", AcquireRequest{Kind: KindAdmin}, 400, "array: missing", ""},
		{"backend failure", AcquireRequest{Array: "broken", Kind: KindAdmin}, 500, "engine unavailable", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Acquire(ctx, tc.req)
			var re *RemoteError
			if !errors.As(err, &re) || re.Code != tc.code || !strings.Contains(re.Body.Error, tc.msg) || re.Body.Holder != tc.holder {
				t.Fatalf("error = %#v, want HTTP %d with %q (holder %q)", err, tc.code, tc.msg, tc.holder)
			}
		})
	}
}

func TestUnknownFieldRejected(t *testing.T) {
	c, _ := serve(t, os.Getuid())
	err := c.do(context.Background(), "POST", "/v1/acquire", map[string]any{"array": "a", "kind": "admin", "force": true}, nil)
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != 400 || !strings.Contains(re.Body.Error, `unknown field "force"`) {
		t.Fatalf("error = %v, want 400 naming the unknown field", err)
	}
}

func TestOtherUIDRefused(t *testing.T) {
	c, _ := serve(t, os.Getuid()+1000)
	_, err := c.Status(context.Background())
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != 403 {
		t.Fatalf("error = %v, want 403", err)
	}
}

func TestAgentDown(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "nobody.sock"))
	if _, err := c.Status(context.Background()); !errors.Is(err, ErrAgentDown) {
		t.Fatalf("error = %v, want ErrAgentDown", err)
	}
}
