package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"mdcluster.dev/dlm/etcdembed"
	"mdcluster.dev/mdcluster/api"
)

// TestMain lets the test binary act as mdclusterd when re-executed by the tests.
func TestMain(m *testing.M) {
	if os.Getenv("MDCLUSTERD_TEST_MAIN") == "1" {
		os.Exit(run(os.Args, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestCheckConfig(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"mdclusterd", "check-config", "../../scripts/mdclusterd.example.yaml"}, &out, &errOut); code != 0 {
		t.Fatalf("example config: exit %d: %s", code, errOut.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("node: {name: n1, id: 1}\ncluster: {name: c}\nlisten: {api_sockett: /x}\n"), 0o644)
	out.Reset()
	errOut.Reset()
	if code := run([]string{"mdclusterd", "check-config", bad}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), `unknown key "api_sockett" (in listen)`) {
		t.Fatalf("bad config: exit %d, stderr %q", code, errOut.String())
	}
	if out.Len() != 0 {
		t.Errorf("bad config wrote to stdout: %q", out.String())
	}
	if code := run([]string{"mdclusterd", "check-config"}, &out, &errOut); code != 2 {
		t.Fatalf("missing FILE: exit %d, want 2", code)
	}
	if code := run([]string{"mdclusterd", "frobnicate"}, &out, &errOut); code != 2 {
		t.Fatalf("unknown command: exit %d, want 2", code)
	}
}

// TestSystemdNotify runs the agent as systemd would (Type=notify with WatchdogSec) with an
// embedded etcd, and checks READY, STATUS and WATCHDOG arrive, the API answers, and SIGTERM
// ends it with STOPPING.
func TestSystemdNotify(t *testing.T) {
	dir := t.TempDir()
	urls, err := etcdembed.FreeURLs(3)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "api.sock")
	cfg := filepath.Join(dir, "mdclusterd.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`node: {name: n1, id: 1}
cluster: {name: test}
lock_engine: {type: etcd-embedded, data_dir: %s, client_url: %q, peer_url: %q}
listen: {api_socket: %s, metrics: %q}
`, filepath.Join(dir, "etcd"), urls[0], urls[1], sock, strings.TrimPrefix(urls[2], "http://"))), 0o644)
	notify := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cmd := exec.Command(os.Args[0], "run", "--config", cfg)
	cmd.Env = append(os.Environ(), "MDCLUSTERD_TEST_MAIN=1", "NOTIFY_SOCKET="+notify, "WATCHDOG_USEC=400000")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	got := map[string]string{}
	buf := make([]byte, 4096)
	conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	for got["READY"] == "" || got["WATCHDOG"] == "" {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("notify socket: %v (have %v)\nagent log:\n%s", err, got, stderr.String())
		}
		for _, kv := range strings.Split(string(buf[:n]), "\n") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				got[k] = v
			}
		}
	}
	if got["READY"] != "1" || !strings.Contains(got["STATUS"], "node n1 in cluster test") || got["WATCHDOG"] != "1" {
		t.Fatalf("notifications = %v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := api.NewClient(sock).Status(ctx)
	if err != nil || st.Node != "n1" || !st.Session.Valid || len(st.Members) != 1 {
		t.Fatalf("status = %+v, %v", st, err)
	}
	// The agent serves its metrics on listen.metrics, its own view included.
	resp, err := http.Get(urls[2] + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`mdcluster_session_valid 1`, `mdcluster_cluster_members 1`, `mdcluster_node_info{cluster="test",engine="etcd-embedded",node="n1",node_id="1"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	for got["STOPPING"] == "" {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no STOPPING after SIGTERM: %v\n%s", err, stderr.String())
		}
		for _, kv := range strings.Split(string(buf[:n]), "\n") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				got[k] = v
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("agent exit after SIGTERM: %v\n%s", err, stderr.String())
	}
}
