// Command capture-images makes the md metadata test images in the VM lab: Debian's kernel and
// mdadm 4.2 create real arrays on blank shared disks, the guests stop or crash, and each member
// disk is saved gzip-compressed as <out>/<set>/<disk>.img.gz. The golden mdadm outputs are then
// taken from these images on the host by scripts/vm/make-goldens.sh.
//
//	go run ./scripts/vm/capture-images -out bitmap/testdata/images [-only NAME]
package main

import (
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"mdcluster.dev/internal/vmlab"
	"mdcluster.dev/internal/vmlab/scenario"
)

// imageSet is one array made in the lab.
type imageSet struct {
	name  string
	nodes int
	disks int
	// steps run in order: node and script. A script's non-zero exit aborts the set.
	steps []capStep
	// crash lists the nodes to crash (sysrq c) at the end instead of powering off, so their
	// bitmaps keep dirty bits.
	crash []int
	// dlm: mdclusterd runs the kernel DLM on every node first (etcd on the host's loopback).
	dlm bool
}

type capStep struct {
	node   int
	script string
}

const diskSize = 64 << 20

// writeAt returns a script writing one recognisable 4 KiB block (O_DIRECT) at each MiB offset,
// which leaves the bitmap chunks holding them dirty until md's daemon clears them.
func writeAt(tag string, mibs ...int) string {
	s := ""
	for _, m := range mibs {
		s += fmt.Sprintf("mdlab odwrite /dev/md0 %d %s-%d && ", m<<20, tag, m)
	}
	return s + "true"
}

var writeSome = writeAt("data", 0, 1, 5, 17, 40)

func sets() []imageSet {
	create := func(args string) string {
		// mdadm --wait exits 1 when there was nothing to wait for.
		return "mdadm --create /dev/md0 --run " + args + " 2>&1 && { mdadm --wait /dev/md0; true; }"
	}
	stop := "mdadm --stop /dev/md0 2>&1"
	return []imageSet{
		{name: "raid1-1.2-bitmap", nodes: 1, disks: 2, steps: []capStep{
			{1, create("--level=1 --raid-devices=2 --bitmap=internal --metadata=1.2 --name=r1 /dev/vda /dev/vdb")},
			{1, writeSome}, {1, stop}}},
		{name: "raid1-1.0-bitmap-dirty", nodes: 1, disks: 2, steps: []capStep{
			{1, create("--level=1 --raid-devices=2 --bitmap=internal --bitmap-chunk=128K --metadata=1.0 --name=r10meta /dev/vda /dev/vdb")},
			{1, writeSome}}, crash: []int{1}},
		{name: "raid5-1.2-bitmap", nodes: 1, disks: 3, steps: []capStep{
			{1, create("--level=5 --raid-devices=3 --bitmap=internal --bitmap-chunk=64K --metadata=1.2 --chunk=64 --name=r5 /dev/vda /dev/vdb /dev/vdc")},
			{1, writeSome}, {1, stop}}},
		{name: "raid10-1.2-bitmap", nodes: 1, disks: 4, steps: []capStep{
			{1, create("--level=10 --raid-devices=4 --layout=n2 --bitmap=internal --bitmap-chunk=256K --metadata=1.2 --chunk=64 --name=r10 /dev/vda /dev/vdb /dev/vdc /dev/vdd")},
			{1, writeSome}, {1, stop}}},
		{name: "raid1-1.2-degraded", nodes: 1, disks: 2, steps: []capStep{
			{1, create("--level=1 --raid-devices=2 --bitmap=internal --bitmap-chunk=1M --metadata=1.2 --name=deg /dev/vda /dev/vdb")},
			{1, "mdadm /dev/md0 --fail /dev/vdb --remove /dev/vdb 2>&1"},
			{1, writeSome}, {1, stop}}},
		{name: "raid5-1.2-nobitmap", nodes: 1, disks: 3, steps: []capStep{
			{1, create("--level=5 --raid-devices=3 --bitmap=none --metadata=1.2 --chunk=64 --name=nobm /dev/vda /dev/vdb /dev/vdc")},
			{1, writeSome}, {1, stop}}},
		{name: "clustered-raid1-4slots", nodes: 2, disks: 2, dlm: true, steps: []capStep{
			{1, create("--level=1 --raid-devices=2 --bitmap=clustered --bitmap-chunk=1M --nodes=4 --metadata=1.2 --name=cl /dev/vda /dev/vdb")},
			{2, "mdadm --assemble /dev/md0 /dev/vda /dev/vdb 2>&1"},
			{1, writeAt("node1", 2, 3, 30)},
			{2, writeAt("node2", 10, 11, 12, 50)},
		}, crash: []int{1, 2}},
	}
}

func main() {
	out := flag.String("out", "bitmap/testdata/images", "output directory")
	only := flag.String("only", "", "make only the named set")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	for _, s := range sets() {
		if *only != "" && s.name != *only {
			continue
		}
		if err := capture(ctx, s, *out); err != nil {
			fmt.Fprintf(os.Stderr, "capture-images: %s: %v\n", s.name, err)
			os.Exit(1)
		}
	}
}

func capture(ctx context.Context, s imageSet, out string) error {
	l, err := vmlab.Start(ctx, "capture-"+s.name, vmlab.Options{Nodes: s.nodes, Disks: s.disks, DiskSize: diskSize,
		UserNet: s.dlm, Log: os.Stdout})
	if err != nil {
		return err
	}
	defer l.Close()
	if s.dlm {
		port, stop, err := scenario.HostEtcd()
		if err != nil {
			return err
		}
		defer stop()
		for n := 1; n <= s.nodes; n++ {
			if err := scenario.StartControlPlane(ctx, l, n, port, 15*time.Second, 5*time.Second); err != nil {
				return err
			}
		}
	}
	for _, st := range s.steps {
		if _, err := l.Step(ctx, st.node, 3*time.Minute, firstWords(st.script), st.script); err != nil {
			return err
		}
	}
	for _, n := range s.crash {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := l.Node(n).Crash(cctx)
		cancel()
		if err != nil {
			return err
		}
		l.Logf("node%d: crashed, bitmap left dirty", n)
	}
	for _, vm := range l.VMs {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := vm.Shutdown(sctx)
		cancel()
		if err != nil {
			return err
		}
	}
	dir := filepath.Join(out, s.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, d := range l.Disks {
		dst := filepath.Join(dir, fmt.Sprintf("vd%c.img.gz", 'a'+i))
		if err := gzipFile(d, dst); err != nil {
			return err
		}
		l.Logf("saved %s", dst)
	}
	return nil
}

func gzipFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	if _, err := io.Copy(zw, in); err != nil {
		f.Close()
		return fmt.Errorf("compress %s: %w", src, err)
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func firstWords(s string) string {
	if len(s) > 70 {
		return s[:70] + "…"
	}
	return s
}
