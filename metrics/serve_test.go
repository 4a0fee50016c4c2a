package metrics

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestServeBasicAuth serves through exporter-toolkit with a web config that asks for basic
// auth: no credentials get 401, the right ones get the scrape, and cancelling ctx stops it.
func TestServeBasicAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "basic_auth_users:\n  prom: %s\n", hash), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	set := NewSet(testLogger(t)).AddMD(MDOptions{FS: newFS(t, captureRoot(t, 0)), NodeCompat: true})
	reg, err := NewRegistry(set)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, addr, cfg, reg, testLogger(t)) }()

	get := func(user, pass string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		var resp *http.Response
		for i := 0; i < 100; i++ { // the listener starts in the background
			if resp, err = http.DefaultClient.Do(req); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("", ""); code != http.StatusUnauthorized {
		t.Errorf("without credentials: %d, want 401", code)
	}
	if code, _ := get("prom", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", code)
	}
	code, body := get("prom", "s3cret")
	if code != http.StatusOK || !strings.Contains(body, `node_md_disks{device="md3",state="failed"} 1`) {
		t.Errorf("with credentials: %d\n%s", code, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
}

// TestServeBadWebConfig: a web config that cannot be read is an error, not plain HTTP.
func TestServeBadWebConfig(t *testing.T) {
	reg, err := NewRegistry(NewSet(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	err = Serve(context.Background(), "127.0.0.1:0", filepath.Join(t.TempDir(), "missing.yml"), reg, testLogger(t))
	if err == nil {
		t.Fatal("Serve with a missing web config returned nil")
	}
}
