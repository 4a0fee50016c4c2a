// Command mdcadm-examine-bitmap times `mdadm -X` against `mdcadm -X` on a
// large clustered bitmap made by the real mdadm in a VM lab guest.
//
// One guest, two sparse 4080 GiB disks (just under 4 TiB: mdadm 4.2 gives
// a v1.2 bitmap at most 128 KiB per slot, 1,046,528 bits, so 4 MiB chunks
// need a device under 3.99 TiB; this one gives 1,044,448 chunks per slot); mdclusterd running the
// kernel DLM of a one-node cluster (scripts/vm/guest/mdcluster-solo.sh) lets mdadm 4.2 create a clustered RAID1 with 8 bitmap slots and 4 MiB
// bitmap chunks (1,048,576 chunks per slot); a few writes dirty some bits.
// Then, in the same guest, `mdadm -X /dev/vda` and `mdcadm -X /dev/vda`
// run alternately, N samples each, a sample being the wall time of a batch
// of runs (whole processes, output to /dev/null) measured inside the guest
// with /proc/uptime, divided by the batch size. The program
// checks that both print the same, and reports both medians and the ratio.
//
// Run from the module root after `make lab`:
//
//	go run ./scripts/bench/mdcadm-examine-bitmap -n 21
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

func main() {
	n := flag.Int("n", 21, "samples of each command")
	b := flag.Int("batch", 10, "runs per sample")
	size := flag.Int64("disk", 4080<<30, "disk size in bytes (sparse)")
	flag.Parse()
	if err := run(*n, *b, *size); err != nil {
		fmt.Fprintln(os.Stderr, "mdcadm-examine-bitmap:", err)
		os.Exit(1)
	}
}

func run(n, batch int, size int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	l, err := vmlab.Start(ctx, "bench-examine-bitmap", vmlab.Options{Nodes: 1, Disks: 2, DiskSize: size, Log: os.Stderr})
	if err != nil {
		return fmt.Errorf("start lab: %w", err)
	}
	defer l.Close()
	step := func(what, script string) (string, error) {
		r, err := l.Step(ctx, 1, 10*time.Minute, what, script)
		return r.Stdout, err
	}
	// mdclusterd runs the kernel DLM of a one-node cluster (the node address goes on lo).
	if _, err := step("mdclusterd runs the kernel DLM", "/lab/mdcluster-solo.sh 2>&1"); err != nil {
		return err
	}
	if _, err := step("create clustered RAID1, 8 slots, 4 MiB chunks",
		"mdadm --create /dev/md0 --run --metadata=1.2 --level=1 -n2 --bitmap=clustered --nodes=8 "+
			"--bitmap-chunk=4M --assume-clean /dev/vda /dev/vdb 2>&1"); err != nil {
		return err
	}
	// Dirty a few chunks spread over the array (O_DIRECT, so they reach md now).
	if _, err := step("write some data",
		"echo frozen > /sys/block/md0/md/sync_action; for s in 0 1000 50000 400000 1000000 3000000; do "+
			"dd if=/dev/urandom of=/dev/md0 bs=1M count=2 seek=$s oflag=direct 2>/dev/null || exit 1; done"); err != nil {
		return err
	}
	a, err := step("mdadm -X", "mdadm -X /dev/vda 2>&1")
	if err != nil {
		return err
	}
	b, err := step("mdcadm -X", "mdcadm -X /dev/vda 2>&1")
	if err != nil {
		return err
	}
	if a != b {
		return fmt.Errorf("outputs differ:\n--- mdadm\n%s--- mdcadm\n%s", a, b)
	}
	fmt.Print(a)
	// busybox date has no %N: each sample times a batch of runs with
	// /proc/uptime (10 ms ticks), so one sample is batch runs' mean.
	out, err := step(fmt.Sprintf("time %d samples of %d runs of each", n, batch), fmt.Sprintf(`
t() { s=$(cut -d' ' -f1 /proc/uptime); i=0
  while [ $i -lt %d ]; do "$@" > /dev/null 2>&1; i=$((i + 1)); done
  echo "$s $(cut -d' ' -f1 /proc/uptime)"; }
for i in $(seq %d); do echo "mdadm $(t mdadm -X /dev/vda)"; echo "mdcadm $(t mdcadm -X /dev/vda)"; done`, batch, n))
	if err != nil {
		return err
	}
	ns := map[string][]float64{}
	for _, line := range vmlab.Lines(out) {
		f := strings.Fields(line)
		if len(f) != 3 {
			return fmt.Errorf("timing line %q", line)
		}
		s, err1 := strconv.ParseFloat(f[1], 64)
		e, err2 := strconv.ParseFloat(f[2], 64)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("timing line %q", line)
		}
		ns[f[0]] = append(ns[f[0]], (e-s)*1000/float64(batch))
	}
	ma, mc := median(ns["mdadm"]), median(ns["mdcadm"])
	fmt.Printf("samples: %d each, alternating, %d runs per sample, in one guest (TCG); ms per run\n", n, batch)
	fmt.Printf("mdadm  -X: median %.1f ms  (all: %s)\n", ma, list(ns["mdadm"]))
	fmt.Printf("mdcadm -X: median %.1f ms  (all: %s)\n", mc, list(ns["mdcadm"]))
	fmt.Printf("ratio mdcadm/mdadm: %.2f\n", mc/ma)
	return nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func list(v []float64) string {
	var b strings.Builder
	for i, x := range v {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%.0f", x)
	}
	return b.String()
}
