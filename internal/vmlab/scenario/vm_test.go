//go:build vm

package scenario

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// startLab boots a lab for one test and tears it down at the end; console logs of a failed test
// are kept under $MDCLUSTER_LAB_LOGS (CI keeps them as artefacts).
func startLab(t *testing.T, o vmlab.Options) (*vmlab.Lab, context.Context) {
	t.Helper()
	return startLabFor(t, o, 10*time.Minute)
}

// startLabFor is startLab with a longer bound on the whole test.
func startLabFor(t *testing.T, o vmlab.Options, d time.Duration) (*vmlab.Lab, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	o.Log = testWriter{t}
	l, err := vmlab.Start(ctx, t.Name(), o)
	if err != nil {
		t.Fatalf("start lab: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if dir := os.Getenv("MDCLUSTER_LAB_LOGS"); dir != "" {
				l.KeepLogs(filepath.Join(dir, t.Name()))
			}
			for _, vm := range l.VMs {
				t.Logf("node%d console (tail):\n%s", vm.Node, vm.ConsoleTail(40))
			}
		}
		l.Close()
	})
	return l, ctx
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

func TestRAID1BitmapRecovery(t *testing.T) {
	l, ctx := startLab(t, RAID1BitmapRecoveryOptions)
	if err := RAID1BitmapRecovery(ctx, l); err != nil {
		t.Fatal(err)
	}
	// The same guest reaches a service on the host's loopback through QEMU user networking.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const token = "hello-from-the-host"
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(token + "\n"))
			c.Close()
		}
	}()
	if err := HostLoopback(ctx, l, 1, ln.Addr().(*net.TCPAddr).Port, token); err != nil {
		t.Fatal(err)
	}
}

func TestSharedDirectIO(t *testing.T) {
	l, ctx := startLab(t, SharedDiskOptions)
	if err := SharedDirectIO(ctx, l); err != nil {
		t.Fatal(err)
	}
}

func TestClusteredRAID1(t *testing.T) {
	l, ctx := startLab(t, ClusteredRAID1Options)
	if err := ClusteredRAID1(ctx, l); err != nil {
		t.Fatal(err)
	}
}

// TestGuestSuites runs, each in a fresh guest, every package's `vmguest` tests on the real kernel.
func TestGuestSuites(t *testing.T) {
	bins, err := GuestTestBinaries()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("guest test binaries: %v", bins)
	for _, b := range bins {
		t.Run(b, func(t *testing.T) {
			l, ctx := startLab(t, GuestTestOptions)
			out, err := RunGuestTest(ctx, l, 1, b, 9*time.Minute, "-test.skip='^"+CrashTestPrefix+"'")
			t.Log(out)
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestWatchdogFires(t *testing.T) {
	l, ctx := startLab(t, vmlab.Options{Nodes: 1})
	if err := WatchdogFires(ctx, l); err != nil {
		t.Fatal(err)
	}
}

// hostEtcd runs an etcd member on the host's loopback for the guests (reached at 10.0.2.2).
func hostEtcd(t *testing.T) int {
	t.Helper()
	return restartableHostEtcd(t).Port()
}

// restartableHostEtcd is hostEtcd that the test can stop and start again.
func restartableHostEtcd(t *testing.T) *vmlab.HostEtcd {
	t.Helper()
	e, err := vmlab.StartHostEtcd(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	return e
}

func TestExclusiveFailover(t *testing.T) {
	port := hostEtcd(t)
	l, ctx := startLab(t, AgentOptions)
	ttl := 8 * time.Second
	took, err := ExclusiveFailover(ctx, l, port, ttl)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover (crash to assembled elsewhere): %.1fs with TTL %s", took.Seconds(), ttl)
}

func TestNetworkCutSelfFence(t *testing.T) {
	for _, inUse := range []bool{false, true} {
		t.Run(map[bool]string{false: "stopped", true: "in-use"}[inUse], func(t *testing.T) {
			port := hostEtcd(t)
			l, ctx := startLab(t, AgentOptions)
			if err := NetworkCutSelfFence(ctx, l, port, 8*time.Second, 3*time.Second, inUse); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCleanStopUnderWrites(t *testing.T) {
	port := hostEtcd(t)
	l, ctx := startLab(t, AgentOptions)
	if err := CleanStopUnderWrites(ctx, l, port); err != nil {
		t.Fatal(err)
	}
}

func TestCleanStopInUse(t *testing.T) {
	port := hostEtcd(t)
	l, ctx := startLab(t, AgentOptions)
	if err := CleanStopInUse(ctx, l, port); err != nil {
		t.Fatal(err)
	}
}

func TestAgentPaused(t *testing.T) {
	port := hostEtcd(t)
	l, ctx := startLab(t, AgentOptions)
	left, err := AgentPaused(ctx, l, port)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("FIGURE paused holder reset %.2fs before its lease could expire (margin 3s)", left.Seconds())
}

func TestAgentRestart(t *testing.T) {
	port := hostEtcd(t)
	l, ctx := startLab(t, AgentOptions)
	if err := AgentRestart(ctx, l, port); err != nil {
		t.Fatal(err)
	}
}

func TestEtcdOutage(t *testing.T) {
	e := restartableHostEtcd(t)
	l, ctx := startLab(t, AgentOptions)
	if err := EtcdOutage(ctx, l, e); err != nil {
		t.Fatal(err)
	}
}

func TestNoWatchdog(t *testing.T) {
	port := hostEtcd(t)
	l, ctx := startLab(t, AgentOptions)
	if err := NoWatchdog(ctx, l, port); err != nil {
		t.Fatal(err)
	}
}

func TestResyncConcurrency(t *testing.T) {
	port := hostEtcd(t)
	o := AgentOptions
	o.Disks, o.DiskSize = 4, 128<<20
	l, ctx := startLab(t, o)
	if err := ResyncConcurrency(ctx, l, port); err != nil {
		t.Fatal(err)
	}
}

func TestNewDiskConfirm(t *testing.T) {
	port := hostEtcd(t)
	l, ctx := startLab(t, AgentOptions)
	if err := NewDiskConfirm(ctx, l, port); err != nil {
		t.Fatal(err)
	}
}

func TestKernelDLMContention(t *testing.T) {
	l, ctx := startLab(t, vmlab.Options{Nodes: 2})
	if err := KernelDLMContention(ctx, l); err != nil {
		t.Fatal(err)
	}
}

func TestKillAgent(t *testing.T) {
	port := hostEtcd(t)
	l, ctx := startLab(t, AgentOptions)
	if err := KillAgent(ctx, l, port); err != nil {
		t.Fatal(err)
	}
}

func TestClusterFailover(t *testing.T) {
	l, ctx := startLab(t, vmlab.Options{Nodes: 3, Disks: 3})
	ttl := 15 * time.Second
	took, err := ClusterFailover(ctx, l, ttl)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover with the agents' own etcd cluster: %.1fs with TTL %s", took.Seconds(), ttl)
}

// haLab boots a lab from the OCF/package initramfs (`make lab-ha`).
func haLab(t *testing.T, o vmlab.Options) (*vmlab.Lab, context.Context) {
	t.Helper()
	dir, err := HALabDir()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("MDCLUSTER_LAB", dir)
	return startLab(t, o)
}

func TestPackageInstall(t *testing.T) {
	img, err := DebianRootImage()
	if err != nil {
		t.Fatal(err)
	}
	l, ctx := haLab(t, PackageOptions)
	if err := PackageInstall(ctx, l, img); err != nil {
		t.Fatal(err)
	}
}

func TestOCFAgent(t *testing.T) {
	l, ctx := haLab(t, OCFOptions)
	if err := OCFAgent(ctx, l); err != nil {
		t.Fatal(err)
	}
}

func TestPacemakerMove(t *testing.T) {
	l, ctx := haLab(t, PacemakerOptions)
	if err := PacemakerMove(ctx, l); err != nil {
		t.Fatal(err)
	}
}

// TestControldCrashFigures is scenario (a) with mdclusterd as the DLM control plane at two TTL
// settings: the failure-to-recovery figures (host clock) go to the log.
func TestControldCrashFigures(t *testing.T) {
	for _, tc := range []struct{ ttl, margin time.Duration }{{7 * time.Second, 2 * time.Second}, {10 * time.Second, 4 * time.Second}} {
		t.Run(tc.ttl.String(), func(t *testing.T) {
			port := hostEtcd(t)
			l, ctx := startLab(t, ControldOptions)
			fig, err := ControldRAID1(ctx, l, port, tc.ttl, tc.margin)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("FIGURE mdclusterd control plane: crash to failure noticed %.1fs, to md-cluster recovery %.1fs (TTL %s, fence wait %s)",
				fig.Detected.Seconds(), fig.Recovery.Seconds(), tc.ttl, tc.margin)
		})
	}
}

func TestControldAgentRestart(t *testing.T) {
	port := hostEtcd(t)
	l, ctx := startLab(t, ControldOptions)
	if err := ControldAgentRestart(ctx, l, port); err != nil {
		t.Fatal(err)
	}
}

func TestControldRAID10(t *testing.T) {
	port := hostEtcd(t)
	l, ctx := startLab(t, ControldRAID10Options)
	fig, err := ControldRAID10(ctx, l, port, 8*time.Second, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("FIGURE 3 nodes RAID10: crash to md-cluster recovery %.1fs (TTL 8s, fence wait 3s)", fig.Recovery.Seconds())
}

// TestCorosyncCrashFigures is scenario (a) with corosync and dlm_controld as the control plane,
// for the figures to set against TestControldCrashFigures.
func TestCorosyncCrashFigures(t *testing.T) {
	l, ctx := startLab(t, vmlab.Options{Nodes: 2, Disks: 2})
	fig, err := CorosyncRAID1(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("FIGURE corosync+dlm_controld (defaults): crash to md-cluster recovery %.1fs", fig.Recovery.Seconds())
}

func TestExporterScrape(t *testing.T) {
	l, ctx := startLab(t, ExporterOptions)
	if err := ExporterScrape(ctx, l); err != nil {
		t.Fatal(err)
	}
}

func TestClusterScrape(t *testing.T) {
	port := hostEtcd(t)
	l, ctx := startLab(t, ClusterScrapeOptions)
	if err := ClusterScrape(ctx, l, port); err != nil {
		t.Fatal(err)
	}
}

func TestMdcadmGuard(t *testing.T) {
	port := hostEtcd(t)
	l, ctx := startLab(t, MdcadmOptions)
	if err := MdcadmGuard(ctx, l, port); err != nil {
		t.Fatal(err)
	}
}

func TestMdcadmKernelDLM(t *testing.T) {
	l, ctx := startLab(t, MdcadmKernelDLMOptions)
	if err := MdcadmKernelDLM(ctx, l); err != nil {
		t.Fatal(err)
	}
}

func TestMdcadmClusterChunk(t *testing.T) {
	port := hostEtcd(t)
	l, ctx := startLab(t, MdcadmClusterChunkOptions)
	took, err := MdcadmClusterChunk(ctx, l, port)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("FIGURE clustered RAID10 --grow --chunk=128: mdcadm refuses, both nodes keep 64K; plain mdadm reshapes node1 to 128K in %.1fs while node2 keeps 64K", took.Seconds())
}

// TestClusteredRecoveryRounds is review item 16: fail/remove/add rounds on a 3-node clustered
// RAID10 under writes; per-round recovery times (host clock) go to the log.
func TestClusteredRecoveryRounds(t *testing.T) {
	port := hostEtcd(t)
	n := 5
	if v := os.Getenv("MDCLUSTER_ROUNDS"); v != "" { // a longer soak
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("MDCLUSTER_ROUNDS=%q: want a positive number", v)
		}
	}
	l, ctx := startLabFor(t, ClusteredRecoveryRoundsOptions, 10*time.Minute+time.Duration(n)*2*time.Minute)
	rounds, err := ClusteredRecoveryRounds(ctx, l, port, n)
	for _, r := range rounds {
		t.Logf("FIGURE %s", r)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestMdadmClusterProcedures is review item 17: mdadm's clustered-md procedures with plain
// mdadm on two nodes whose agents have no array configured.
func TestMdadmClusterProcedures(t *testing.T) {
	port := hostEtcd(t)
	l, ctx := startLab(t, MdadmClusterProceduresOptions)
	start := time.Now()
	if err := MdadmClusterProcedures(ctx, l, port); err != nil {
		t.Fatal(err)
	}
	t.Logf("FIGURE mdadm's clustered procedures with the agents watching: %.0fs after boot", time.Since(start).Seconds())
}
