package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// alertScript is an alert program that appends its arguments (and MDCLUSTER_NODE) to a file.
func alertScript(t *testing.T) (string, string) {
	dir := t.TempDir()
	out := filepath.Join(dir, "alerts")
	p := filepath.Join(dir, "alert")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho \"$# $* node=$MDCLUSTER_NODE\" >> "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p, out
}

func readLines(t *testing.T, p string) []string {
	b, _ := os.ReadFile(p)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// --oneshot --test on a named array that does not exist: the program gets TestMessage, then
// DeviceDisappeared, with two arguments each (no component), as from mdadm; the agent's node
// name reaches its environment.
func TestMonitorOneshot(t *testing.T) {
	f, env, errb, _ := day2Env(t)
	f.status.Node = "node2"
	prog, out := alertScript(t)
	if rc := Run([]string{"--monitor", "--oneshot", "--test", "--program=" + prog, "/dev/md9"}, env); rc != 0 {
		t.Fatalf("rc %d: %s", rc, errb)
	}
	want := []string{"2 TestMessage /dev/md9 node=node2", "2 DeviceDisappeared /dev/md9 node=node2"}
	if got := readLines(t, out); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("program got %q, want %q", got, want)
	}
	if len(f.reports) != 2 || f.reports[0].Reason != "TestMessage" {
		t.Fatalf("alerts logged %+v", f.reports)
	}
}

// PROGRAM and MAILADDR come from mdadm.conf, and mdadm says so unless --scan; MONITORDELAY too.
// Without a program, a mailer or syslog, the event is a line on stdout.
func TestMonitorConfig(t *testing.T) {
	_, env, errb, _ := day2Env(t)
	prog, out := alertScript(t)
	os.MkdirAll(env.path("/etc/mdcluster"), 0o755)
	os.WriteFile(env.path("/etc/mdcluster/mdadm.conf"), []byte("PROGRAM "+prog+"\nMONITORDELAY 7\n"), 0o644)
	if rc := Run([]string{"--monitor", "-1", "-c", "/etc/mdcluster/mdadm.conf", "/dev/md8"}, env); rc != 0 {
		t.Fatalf("rc %d %s", rc, errb)
	}
	if !strings.Contains(errb.String(), `Monitor using program "`+prog+`" from config file`) || readLines(t, out)[0] != "2 DeviceDisappeared /dev/md8 node=node2" {
		t.Fatalf("stderr %q, program %q", errb, readLines(t, out))
	}
	var o strings.Builder
	env.Stdout = &o
	if rc := Run([]string{"--monitor", "-1", "/dev/md7"}, env); rc != 0 || !strings.Contains(o.String(), ": DeviceDisappeared on /dev/md7 unknown device\n") {
		t.Fatalf("stdout %q", o.String())
	}
}

// --daemonise starts the monitor in the background and prints its pid, or writes it to the pid
// file; a second spare-sharing monitor with --scan is refused.
func TestMonitorDaemonise(t *testing.T) {
	_, env, errb, _ := day2Env(t)
	old := startDaemon
	t.Cleanup(func() { startDaemon = old })
	startDaemon = func() (int, error) { return 4242, nil }
	var o strings.Builder
	env.Stdout = &o
	if rc := Run([]string{"--monitor", "--daemonise", "--scan", "--mail=root"}, env); rc != 0 || o.String() != "4242\n" {
		t.Fatalf("rc %d stdout %q %s", rc, o.String(), errb)
	}
	pid := filepath.Join(t.TempDir(), "mon.pid")
	if rc := Run([]string{"--monitor", "-f", "--pid-file=" + pid, "--scan", "--program=/bin/true"}, env); rc != 0 {
		t.Fatalf("rc %d %s", rc, errb)
	}
	if b, _ := os.ReadFile(pid); string(b) != "4242\n" {
		t.Fatalf("pid file %q", b)
	}
	// This process claims the sharing: another --scan monitor would be refused.
	os.MkdirAll(env.path("/run/mdcluster"), 0o755)
	os.WriteFile(env.path("/run/mdcluster/monitor-autorebuild.pid"), []byte("1\n"), 0o644)
	comm, _ := os.ReadFile("/proc/1/comm")
	if strings.TrimSpace(string(comm)) == Prog {
		errb.Reset()
		if rc := Run([]string{"--monitor", "--scan", "--mail=root"}, env); rc != 1 {
			t.Fatalf("second sharer: rc %d %s", rc, errb)
		}
	}
	errb.Reset()
	if rc := Run([]string{"--monitor", "--scan", "-m", "a", "-m", "b", "-p", "x", "-p", "y", "-d", "5", "-d", "6", "-i", "p", "-i", "q"}, env); rc != 1 ||
		!strings.Contains(errb.String(), "only specify one mailaddress. b ignored.") || !strings.Contains(errb.String(), "only specify one alter program. y ignored.") ||
		!strings.Contains(errb.String(), "only specify delay once. 6 ignored.") || !strings.Contains(errb.String(), "only specify one pid file. q ignored.") {
		t.Fatalf("repeated options: rc %d %q", rc, errb)
	}
}
