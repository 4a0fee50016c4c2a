package etcdlock

import (
	"context"
	"errors"
	"testing"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/dlm/etcdembed"
)

// TestResumeErrorsThatAreNotExpiry: Resume says ErrSessionExpired only when etcd says the lease is
// gone. A lease etcd never granted is gone; a member that does not answer, or a closed client,
// says nothing about the lease: the agent must retry, not open a new session beside the old one.
func TestResumeErrorsThatAreNotExpiry(t *testing.T) {
	e := shared.engine(t, 0, uniquePrefix(t))
	ctx := ctxT(t, 30*time.Second)
	if _, err := e.Resume(ctx, dlm.SessionID(0x7e57_0000_0000_0001)); !errors.Is(err, dlm.ErrSessionExpired) {
		t.Errorf("resume of a lease etcd never granted: %v, want ErrSessionExpired", err)
	}
	live := openN(t, e, 1, dlm.WithTTL(10*time.Second))[0]

	urls, err := etcdembed.FreeURLs(1)
	if err != nil {
		t.Fatal(err)
	}
	dead, err := etcdembed.NewClient(etcdembed.ClientConfig{Endpoints: urls})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	_, err = New(dead).Resume(rctx, live.ID())
	cancel()
	if err == nil || errors.Is(err, dlm.ErrSessionExpired) {
		t.Errorf("resume through a member that does not answer: %v, want an error that is not expiry", err)
	}
	dead.Close()
	rctx, cancel = context.WithTimeout(ctx, time.Second)
	_, err = New(dead).Resume(rctx, live.ID())
	cancel()
	if err == nil || errors.Is(err, dlm.ErrSessionExpired) {
		t.Errorf("resume through a closed client: %v, want an error that is not expiry", err)
	}
	rctx, cancel = context.WithCancel(ctx)
	cancel()
	if _, err := e.Resume(rctx, live.ID()); err == nil || errors.Is(err, dlm.ErrSessionExpired) {
		t.Errorf("resume with a cancelled context: %v, want an error that is not expiry", err)
	}
}
