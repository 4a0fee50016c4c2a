package controld

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// fakeFS is a ConfigFS on ordinary directories, with the cluster directory's parent present
// as configfs has it once the dlm module is loaded.
func fakeFS(t *testing.T) ConfigFS {
	t.Helper()
	root := t.TempDir()
	fs := ConfigFS{Cluster: filepath.Join(root, "config/dlm/cluster"), Sys: filepath.Join(root, "sys/dlm")}
	for _, d := range []string{filepath.Dir(fs.Cluster), fs.Sys} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return fs
}

// fakeComms makes the default groups configfs creates with the cluster directory.
func (c ConfigFS) fakeComms(t *testing.T) {
	t.Helper()
	for _, d := range []string{"comms", "spaces"} {
		if err := os.MkdirAll(filepath.Join(c.Cluster, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSetupWritesNameWithoutNewline(t *testing.T) {
	fs := fakeFS(t)
	adopted, err := fs.Setup("mdlab")
	if err != nil || adopted {
		t.Fatalf("Setup = %v, %v; want a fresh set-up", adopted, err)
	}
	for file, want := range map[string]string{"cluster_name": "mdlab", "recover_callbacks": "1", "protocol": "0"} {
		if got := readFile(t, filepath.Join(fs.Cluster, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if adopted, err := fs.Setup("mdlab"); err != nil || !adopted {
		t.Fatalf("second Setup = %v, %v; want adopted", adopted, err)
	}
	if _, err := fs.Setup("other"); err == nil {
		t.Fatal("Setup of another cluster's directory succeeded")
	}
}

func TestSockaddrIPv4(t *testing.T) {
	b, err := sockaddrIPv4(net.ParseIP("192.168.100.2"))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 128)
	copy(want, []byte{2, 0, 0, 0, 192, 168, 100, 2})
	if !bytes.Equal(b, want) {
		t.Fatalf("sockaddr = % x", b[:16])
	}
	if _, err := sockaddrIPv4(net.ParseIP("fe80::1")); err == nil {
		t.Fatal("IPv6 accepted")
	}
}

func TestCommsAndLockspace(t *testing.T) {
	fs := fakeFS(t)
	if _, err := fs.Setup("mdlab"); err != nil {
		t.Fatal(err)
	}
	fs.fakeComms(t)
	if err := fs.AddComm(1, net.ParseIP("10.0.0.1"), true); err != nil {
		t.Fatal(err)
	}
	if err := fs.AddComm(2, net.ParseIP("10.0.0.2"), false); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(fs.Cluster, "comms/1/local")); got != "1" {
		t.Errorf("local = %q", got)
	}
	if _, err := os.Stat(filepath.Join(fs.Cluster, "comms/2/local")); err == nil {
		t.Error("a peer is marked local")
	}
	if got := readFile(t, filepath.Join(fs.Cluster, "comms/2/addr")); len(got) != 128 {
		t.Errorf("addr is %d bytes, want 128", len(got))
	}
	const ls = "10d42f6e-5047-0313-e014-6ae7b4d871b2"
	if err := os.Mkdir(filepath.Join(fs.Sys, ls), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fs.Join(ls, []int{1, 2}); err != nil {
		t.Fatal(err)
	}
	if ids, _ := fs.Members(ls); !reflect.DeepEqual(ids, []int{1, 2}) {
		t.Errorf("members = %v", ids)
	}
	if got := readFile(t, filepath.Join(fs.Sys, ls, "event_done")); got != "0" {
		t.Errorf("event_done = %q", got)
	}
	if err := fs.Change(ls, nil, []int{2}); err != nil {
		t.Fatal(err)
	}
	if ids, _ := fs.Members(ls); !reflect.DeepEqual(ids, []int{1}) {
		t.Errorf("members after removal = %v", ids)
	}
	if got := readFile(t, filepath.Join(fs.Sys, ls, "control")); got != "1" {
		t.Errorf("control = %q, want started", got)
	}
	if err := fs.RemoveComm(2); err != nil {
		t.Fatal(err)
	}
	if ids, _ := fs.Comms(); !reflect.DeepEqual(ids, []int{1}) {
		t.Errorf("comms = %v", ids)
	}
	if err := fs.Leave(ls); err != nil {
		t.Fatal(err)
	}
	if sp, _ := fs.Spaces(); len(sp) != 0 {
		t.Errorf("spaces after leave = %v", sp)
	}
}

func TestLockspaceIDStable(t *testing.T) {
	a, b := lockspaceID("mdlab"), lockspaceID("mdlab")
	if a != b || a == 0 || a == lockspaceID("mdlab2") {
		t.Fatalf("ids %d %d %d", a, b, lockspaceID("mdlab2"))
	}
}
