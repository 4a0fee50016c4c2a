// Command mdcadm-examine-bitmap times `mdadm -X` against `mdcadm -X` on a
// large clustered bitmap made by the real mdadm in a VM lab guest.
//
// One guest, two sparse 4 TiB disks; the lab's DLM stand-in (one node)
// lets mdadm 4.2 create a clustered RAID1 with 8 bitmap slots and 4 MiB
// bitmap chunks (1,048,576 chunks per slot); a few writes dirty some bits.
// Then, in the same guest, `mdadm -X /dev/vda` and `mdcadm -X /dev/vda`
// run alternately N times each, timed inside the guest with date +%s%N
// (wall time of the whole process, output to /dev/null). The program
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
	n := flag.Int("n", 21, "runs of each command")
	size := flag.Int64("disk", 4<<40, "disk size in bytes (sparse)")
	flag.Parse()
	if err := run(*n, *size); err != nil {
		fmt.Fprintln(os.Stderr, "mdcadm-examine-bitmap:", err)
		os.Exit(1)
	}
}

func run(n int, size int64) error {
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
	if _, err := step("DLM stand-in", "/lab/dlm-standin.sh setup"); err != nil {
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
	out, err := step(fmt.Sprintf("time %d runs of each", n), fmt.Sprintf(`
t() { s=$(date +%%s%%N); "$@" > /dev/null 2>&1; e=$(date +%%s%%N); echo $((e - s)); }
for i in $(seq %d); do echo "mdadm $(t mdadm -X /dev/vda)"; echo "mdcadm $(t mdcadm -X /dev/vda)"; done`, n))
	if err != nil {
		return err
	}
	ns := map[string][]float64{}
	for _, line := range vmlab.Lines(out) {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return fmt.Errorf("timing line %q: %w (does busybox date support %%N?)", line, err)
		}
		ns[f[0]] = append(ns[f[0]], v/1e6)
	}
	ma, mc := median(ns["mdadm"]), median(ns["mdcadm"])
	fmt.Printf("runs: %d each, alternating, in one guest (TCG)\n", n)
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
