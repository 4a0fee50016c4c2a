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

// runCLI runs mdclusterd with args and returns its exit code, stdout and stderr.
func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(append([]string{"mdclusterd"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// exampleWithTLS makes node1's certificates with `mdclusterd tls` and returns the shipped
// example with its TLS paths pointing at them.
func exampleWithTLS(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if code, _, e := runCLI("tls", "init-ca", filepath.Join(dir, "ca")); code != 0 {
		t.Fatalf("tls init-ca: exit %d: %s", code, e)
	}
	tlsDir := filepath.Join(dir, "tls")
	if code, _, e := runCLI("tls", "issue", "--ca", filepath.Join(dir, "ca"), "--out", tlsDir, "node1", "192.168.100.1"); code != 0 {
		t.Fatalf("tls issue: exit %d: %s", code, e)
	}
	b, err := os.ReadFile("../../scripts/mdclusterd.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "mdclusterd.yaml")
	os.WriteFile(p, bytes.ReplaceAll(b, []byte("/etc/mdcluster/tls/"), []byte(tlsDir+"/")), 0o644)
	return p
}

func TestCheckConfig(t *testing.T) {
	example := exampleWithTLS(t)
	if code, out, e := runCLI("check-config", example); code != 0 || !strings.Contains(out, ": OK (node node1, cluster mdlab, 1 array(s), lock engine etcd-cluster)") {
		t.Fatalf("example config with its certificates: exit %d: %s%s", code, out, e)
	} else if !strings.Contains(out, "leases: the node resets itself (watchdog timeout 2s) after 11.5s without the lock service (worst case); peers take its leases 30s after its last renewal") || e != "" {
		t.Fatalf("example config: the leases' timing: %s%s", out, e)
	}
	// A TTL whose silence budget an etcd leader change outlasts: accepted, with a warning.
	short := strings.Replace(readText(t, example), "ttl: 30s", "ttl: 15s", 1)
	p := filepath.Join(t.TempDir(), "short.yaml")
	if err := os.WriteFile(p, []byte(short), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, e := runCLI("check-config", p); code != 0 || !strings.Contains(out, "after 250ms without the lock service") ||
		!strings.Contains(e, "mdclusterd: warning: leases.ttl 15s: the node resets itself after 250ms without the lock service, less than an etcd leader change (up to 7s): a leader crash would reset every node (want leases.ttl 24s or more") {
		t.Fatalf("ttl 15s: exit %d: %s%s", code, out, e)
	}
	// As shipped, the certificates it names do not exist yet.
	if code, _, e := runCLI("check-config", "../../scripts/mdclusterd.example.yaml"); code != 1 ||
		!strings.Contains(e, `lock_engine.tls.ca: "/etc/mdcluster/tls/ca.crt": no such file or directory`) {
		t.Fatalf("example without certificates: exit %d: %s", code, e)
	}
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown key", "node: {name: n1, id: 1}\ncluster: {name: c}\nlisten: {api_sockett: /x}\n", `unknown key "api_sockett" (in listen)`},
		{"old lease_file", "node: {name: n1, id: 1}\ncluster: {name: c}\ndlm_control: {lease_file: /run/x}\n", `unknown key "lease_file" (in dlm_control)`},
		{"arrays on a private etcd", "node: {name: n1, id: 1}\ncluster: {name: c}\nleases: {watchdog: /dev/watchdog}\n" +
			"arrays: [{uuid: fd4485b9:5882c440:166d447e:b3049159, name: a, mode: exclusive, devices: [/dev/sda]}]\n", `lock_engine.type: "etcd-embedded": a lock service private to this node`},
		{"margin", "node: {name: n1, id: 1}\ncluster: {name: c}\nleases: {ttl: 15s, watchdog: /dev/watchdog, watchdog_margin: 11s}\n", `leases.watchdog_margin: "11s"`},
		{"plain http", "node: {name: n1, id: 1}\ncluster: {name: c}\nlock_engine: {type: etcd-external, endpoints: [\"http://10.0.0.1:2379\"]}\n", "lock_engine.endpoints[0]"},
		{"tls dropped", "node: {name: n1, id: 1}\ncluster: {name: c}\nlock_engine: {type: etcd-external, endpoints: [\"http://127.0.0.1:2379\"], tls: {ca: /a, cert: /b, key: /c}}\n", "lock_engine.tls: set, but"},
		{"path", "node: {name: n1, id: 1}\ncluster: {name: c}\nlisten: {api_socket: /run/../s.sock}\n", "listen.api_socket"},
		{"huge", "node: {name: n1, id: 1}\ncluster: {name: c}\n" + strings.Repeat("#\n", 1<<19), "larger than 1 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bad.yaml")
			os.WriteFile(p, []byte(tc.yaml), 0o644)
			code, out, e := runCLI("check-config", p)
			if code != 1 || !strings.HasPrefix(e, "mdclusterd: config "+p+": ") || !strings.Contains(e, tc.want) || strings.Count(e, "\n") != 1 {
				t.Errorf("exit %d, stderr %q: want exit 1 and one line with %q", code, e, tc.want)
			}
			if out != "" {
				t.Errorf("stdout %q", out)
			}
		})
	}
	if code, _, e := runCLI("check-config", "/nonexistent.yaml"); code != 1 || !strings.Contains(e, "no such file") {
		t.Errorf("missing file: exit %d: %s", code, e)
	}
	for _, args := range [][]string{{"check-config"}, {"check-config", "a", "b"}, {"check-config", "--bogus", "x"}, {"frobnicate"},
		{"tls", "init-ca"}, {"tls", "init-ca", "--bogus", "x"},
		{"reload"}, {"reload", "--pid", "1"}, {"reload", "--pid", "x"}, {"reload", "--pid", "42", "--timeout", "0s"}, {"tls", "issue", "--out", "x", "n1"}, {"tls", "issue", "--ca", "x", "--out", "y"}} {
		if code, _, _ := runCLI(args...); code != 2 {
			t.Errorf("%q: exit %d, want 2 (usage)", args, code)
		}
	}
}

// tls issue never overwrites a node's key, and needs a CA.
func TestTLSCommandErrors(t *testing.T) {
	dir := t.TempDir()
	if code, _, e := runCLI("tls", "issue", "--ca", dir, "--out", filepath.Join(dir, "n"), "n1"); code != 1 || !strings.Contains(e, "ca.crt") {
		t.Errorf("issue without a CA: exit %d: %s", code, e)
	}
	runCLI("tls", "init-ca", filepath.Join(dir, "ca"))
	if code, _, e := runCLI("tls", "init-ca", filepath.Join(dir, "ca")); code != 1 || !strings.Contains(e, "exists; not overwritten") {
		t.Errorf("second init-ca: exit %d: %s", code, e)
	}
	out := filepath.Join(dir, "n1")
	if code, o, e := runCLI("tls", "issue", "--ca", filepath.Join(dir, "ca"), "--out", out, "--days", "30", "n1", "10.0.0.1", "n1.example"); code != 0 ||
		!strings.Contains(o, "[n1 localhost n1.example] [127.0.0.1 ::1 10.0.0.1]") {
		t.Fatalf("issue: exit %d: %s%s", code, o, e)
	}
	key, _ := os.ReadFile(filepath.Join(out, "node.key"))
	if code, _, e := runCLI("tls", "issue", "--ca", filepath.Join(dir, "ca"), "--out", out, "n1"); code != 1 || !strings.Contains(e, "exists; not overwritten") {
		t.Errorf("second issue: exit %d: %s", code, e)
	}
	if again, _ := os.ReadFile(filepath.Join(out, "node.key")); !bytes.Equal(key, again) {
		t.Error("node.key changed")
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

func readText(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
