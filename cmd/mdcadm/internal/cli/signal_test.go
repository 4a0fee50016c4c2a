package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// blockingMdadm replaces guardEnv's fake mdadm by one that records its
// start, then blocks until a signal, which it records before it exits
// with 128+signal like a process the signal killed.
func blockingMdadm(t *testing.T, log string) {
	t.Helper()
	script := "#!/bin/sh\ntrap 'echo INT > " + log + ".sig; exit 130' INT\ntrap 'echo TERM > " + log + ".sig; exit 143' TERM\n" +
		"echo started > " + log + ".started\nwhile :; do sleep 0.05; done\n"
	if err := os.WriteFile(filepath.Join(filepath.Dir(log), "mdadm"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// waitFile waits up to 10 s for path to exist.
func waitFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s did not appear", path)
}

// TestSignalReleasesLeases: SIGINT or SIGTERM to mdcadm while the guarded
// mdadm runs is passed on to mdadm; once mdadm exits, the lease the guard
// took goes back to the agent and mdcadm exits 128+signal.
func TestSignalReleasesLeases(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		name string
		rc   int
	}{{syscall.SIGINT, "INT", 130}, {syscall.SIGTERM, "TERM", 143}} {
		t.Run(tc.name, func(t *testing.T) {
			f := twoNodes()
			env, errb, log := guardEnv(t, f)
			blockingMdadm(t, log)
			md := fakeMD(t, env, "md127", dataUUID, "internal")
			done := make(chan int, 1)
			go func() { done <- Run([]string{"--grow", md, "--raid-devices=4"}, env) }()
			waitFile(t, log+".started")
			if err := syscall.Kill(os.Getpid(), tc.sig); err != nil {
				t.Fatal(err)
			}
			var rc int
			select {
			case rc = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("mdcadm still runs 10 s after the signal")
			}
			if rc != tc.rc {
				t.Errorf("rc %d, want %d; stderr %q", rc, tc.rc, errb.String())
			}
			if b, _ := os.ReadFile(log + ".sig"); strings.TrimSpace(string(b)) != tc.name {
				t.Errorf("mdadm got %q, want SIG%s", b, tc.name)
			}
			if diff := cmp.Diff([]string{dataUUID + "/admin"}, f.released); diff != "" {
				t.Errorf("released (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSignalBeforeMdadm: a signal that comes while the guard still waits
// (here for mdadm's admin lock) gives back what was taken and runs no
// mdadm.
func TestSignalBeforeMdadm(t *testing.T) {
	f := twoNodes()
	f.status.Engine = "kernel-dlm"
	env, errb, log := guardEnv(t, f)
	env.AdminLock = func(ctx context.Context, _ string) (func(), error) {
		syscall.Kill(os.Getpid(), syscall.SIGINT)
		<-ctx.Done() // the signal ends the wait
		return nil, ctx.Err()
	}
	md := fakeMD(t, env, "md127", dataUUID, "internal")
	done := make(chan int, 1)
	go func() { done <- Run([]string{"--grow", md, "--raid-devices=4"}, env) }()
	var rc int
	select {
	case rc = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("mdcadm still waits 10 s after the signal")
	}
	want := "mdcadm: interrupted by SIGINT; leases given back; not growing\n"
	if rc != 130 || errb.String() != want {
		t.Errorf("rc %d, stderr %q; want 130, %q", rc, errb.String(), want)
	}
	if mdadmArgv(t, log) != nil {
		t.Error("mdadm ran after the signal")
	}
	if diff := cmp.Diff([]string{dataUUID + "/admin"}, f.released); diff != "" {
		t.Errorf("released (-want +got):\n%s", diff)
	}
}
