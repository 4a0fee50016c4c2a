//go:build vm

package scenario

import (
	"testing"

	"mdcluster.dev/internal/vmlab"
)

func TestScrubNotDropped(t *testing.T) {
	port := hostEtcd(t)
	l, ctx := startLab(t, vmlab.Options{Nodes: 1, Disks: 2, DiskSize: 64 << 20, UserNet: true})
	n, err := ScrubNotDropped(ctx, l, port)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("check held back, started under the resync lease and finished: %d mismatched sectors found and logged", n)
}

func TestScrubResumeAfterCrash(t *testing.T) {
	port := hostEtcd(t)
	l, ctx := startLab(t, ScrubOptions)
	r, err := ScrubResumeAfterCrash(ctx, l, port)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("scrub resume: %+v", r)
}

func TestMonitorAgainstMdadm(t *testing.T) {
	port := hostEtcd(t)
	l, ctx := startLab(t, MonitorOptions)
	c, err := MonitorAgainstMdadm(ctx, l, port)
	for n := 1; n <= 2; n++ {
		t.Logf("mdadm --monitor on node%d before node1's crash: %q", n, c.MdadmBefore[n])
	}
	t.Logf("mdadm --monitor on node2 after node1's crash: %q", c.MdadmAfter[2])
	t.Logf("mdcadm --monitor, both nodes (node, event id, program arguments): %q", c.Mdcadm)
	if err != nil {
		t.Fatal(err)
	}
}
