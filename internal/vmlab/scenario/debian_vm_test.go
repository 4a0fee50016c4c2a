//go:build vm

package scenario

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// The Debian guests' scenarios (vmlab.Options.Debian; `make lab-debian` builds their root).

// TestDebianBoot boots one Debian guest and checks the system users run: systemd with no
// failed unit, udev with mdadm's rules and the package's, softdog loaded, the package installed
// by dpkg with mdclusterd.service enabled and waiting for its configuration.
func TestDebianBoot(t *testing.T) {
	o := DebianOptions
	o.Nodes = 1
	l, ctx := startLab(t, o)
	out, err := step(ctx, l, 1, quick, "the system as booted", DebianBootFacts)
	if err != nil {
		t.Fatal(err)
	}
	if err := expect("Debian guest", out, DebianBootWant); err != nil {
		t.Fatal(err)
	}
}

// TestDebianColdBoot is scenarios (a) and (b): a cold boot of every node with an exclusive
// RAID5 and a clustered RAID1 on the shared disks, then a new disk in the clustered RAID1.
func TestDebianColdBoot(t *testing.T) {
	port := hostEtcd(t)
	l, ctx := startLabFor(t, DebianOptions, 20*time.Minute)
	_, uuid1, err := DebianColdBoot(ctx, l, port)
	if err != nil {
		t.Fatal(err)
	}
	if err := DebianNewDisk(ctx, l, uuid1); err != nil {
		t.Fatal(err)
	}
}

// TestDebianLifecycle is scenarios (d), (e) and (c) on two Debian guests: a restart of the
// agent under writes, an upgrade of the package, then a power-off and a reboot of the holder.
func TestDebianLifecycle(t *testing.T) {
	port := hostEtcd(t)
	l, ctx := startLabFor(t, DebianLifecycleOptions, 25*time.Minute)
	lc, err := DebianLifecycleSetup(ctx, l, port)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		name string
		run  func() error
	}{
		{"restart under writes", func() error { return DebianRestartUnderWrites(ctx, lc) }},
		{"upgrade", func() error { return DebianUpgrade(ctx, lc) }},
		{"poweroff", func() error { return DebianShutdown(ctx, lc, "poweroff") }},
		{"reboot", func() error { return DebianShutdown(ctx, lc, "reboot") }},
	} {
		if err := s.run(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
}

// guideData is the RAID5's UUID in the README's operator's guide.
const guideData = "8a7c2b14:3f5e4d21:9b0a6c35:e1d2f407"

// TestDebianOperatorGuide runs the README's operator's guide, every block as written, on three
// Debian guests from which the package was purged first (the guide installs it).
func TestDebianOperatorGuide(t *testing.T) {
	steps := readmeGuide(t)
	l, ctx := startLabFor(t, DebianOptions, 30*time.Minute)
	for n := 1; n <= 3; n++ {
		if _, err := step(ctx, l, n, slow, "purge the preinstalled package; the .deb in /root",
			"dpkg -P mdcluster >/dev/null && cp /root/debs/mdcluster_*_amd64.deb /root/"); err != nil {
			t.Fatal(err)
		}
	}
	labStep := func(s string) error {
		switch s {
		case "crash node1":
			cctx, cancel := context.WithTimeout(ctx, quick)
			defer cancel()
			t0 := time.Now()
			if err := l.Node(1).Crash(cctx); err != nil {
				return err
			}
			n, _, err := waitAssembledAnywhere(ctx, l, guideData, 3*time.Minute)
			if err != nil {
				return err
			}
			t.Logf("FIGURE guide cluster (etcd-cluster, TLS, TTL 30s): node1 crashed, node%d assembled data %.1fs later", n, time.Since(t0).Seconds())
			return nil
		case "boot node1":
			_, err := l.Restart(ctx, 1)
			return err
		}
		return fmt.Errorf("unknown lab step %q", s)
	}
	if err := RunGuide(ctx, l, steps, labStep); err != nil {
		t.Fatal(err)
	}
}

// prodLab boots the production topology: three Debian guests whose agents form the etcd
// cluster with mutual TLS (certificates from `mdclusterd tls`), TTL 30s (the default), margin 5s.
func prodLab(t *testing.T, limit time.Duration) (*vmlab.Lab, context.Context) {
	t.Helper()
	l, ctx := startLabFor(t, ProdOptions, limit)
	if err := ProdCertificates(ctx, l); err != nil {
		t.Fatal(err)
	}
	return l, ctx
}

// TestDebianDoctor shows `mdclusterd doctor` on the production topology: without quorum, on a
// healthy cluster with an exclusive RAID5 and a clustered RAID1 configured, and on each broken
// set-up in turn.
func TestDebianDoctor(t *testing.T) {
	l, ctx := prodLab(t, 30*time.Minute)
	cfg := func(arrays string) func(int) string {
		return func(n int) string { return ProdConfig(n, "30s", "5s", "", arrays) }
	}
	if err := StartProd(ctx, l, cfg("")); err != nil {
		t.Fatal(err)
	}
	if err := DoctorNoQuorum(ctx, l); err != nil {
		t.Fatal(err)
	}
	uuid1, err := createDebianRAID1(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	uuid5, err := createDebianRAID5(ctx, l, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := StartProd(ctx, l, cfg(debianArrays(uuid5, uuid1))); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 3; n++ {
		if _, err := step(ctx, l, n, slow, "udevadm trigger (the arrays are in the configuration now)",
			"udevadm trigger --subsystem-match=block --action=change && udevadm settle"); err != nil {
			t.Fatal(err)
		}
		// The operator's guide's step: mdadm's initramfs hook would assemble the RAID5.
		if _, err := step(ctx, l, n, quick, "ARRAY <ignore> for the RAID5 in mdadm.conf",
			"echo 'ARRAY <ignore> UUID="+uuid5+"' >> /etc/mdadm/mdadm.conf"); err != nil {
			t.Fatal(err)
		}
	}
	holder, _, err := waitAssembledAnywhere(ctx, l, uuid5, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := DoctorHealthy(ctx, l); err != nil {
		t.Fatal(err)
	}
	if err := DoctorBroken(ctx, l, DoctorBreakages(uuid5, holder)); err != nil {
		t.Fatal(err)
	}
	if err := DoctorHealthy(ctx, l); err != nil {
		t.Fatalf("after undoing every breakage: %v", err)
	}
}

// TestDebianFailover measures failover on the production topology: the RAID5's holder is given
// etcd's leadership, its agent must hand it on (a holder that leads costs an election on top of
// the TTL), then it crashes (MDCLUSTER_FAILOVER_ROUNDS times, default 3) and another node
// assembles the array; the time is taken on the host's clock.
// MDCLUSTER_RAFT sets lock_engine's raft timing keys (e.g. "election_timeout: 500ms").
func TestDebianFailover(t *testing.T) {
	rounds := 3
	if s := os.Getenv("MDCLUSTER_FAILOVER_ROUNDS"); s != "" {
		fmt.Sscanf(s, "%d", &rounds)
	}
	raft := os.Getenv("MDCLUSTER_RAFT")
	l, ctx := prodLab(t, 15*time.Minute+time.Duration(rounds)*4*time.Minute)
	uuid5, err := createDebianRAID5(ctx, l, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := StartProd(ctx, l, func(n int) string { return ProdConfig(n, "30s", "5s", raft, debianArrays(uuid5, "")) }); err != nil {
		t.Fatal(err)
	}
	rs, err := ProdFailover(ctx, l, uuid5, rounds)
	for _, r := range rs {
		t.Logf("FIGURE failover, etcd-cluster with TLS, TTL 30s %s: holder node%d (handed on etcd's leadership in %.1fs) crashed -> lease granted elsewhere %.1fs, md started %.1fs, seen %.1fs later",
			raft, r.Holder, r.Moved.Seconds(), r.Granted.Seconds(), r.Started.Seconds(), r.Failover.Seconds())
	}
	if err != nil {
		t.Fatal(err)
	}
}
