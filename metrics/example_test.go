package metrics_test

import (
	"fmt"
	"log/slog"
	"os"

	"mdcluster.dev/mdcluster/md"
	"mdcluster.dev/metrics"
	"mdcluster.dev/metrics/fixture"
)

// The agent wires the collectors into one registry and serves it:
//
//	set := metrics.NewSet(log).
//		AddMD(metrics.MDOptions{FS: fs, NodeCompat: true, DevDir: "/dev", KernelLog: "/dev/kmsg"}).
//		AddDLM(metrics.DefaultDLMOptions("/sys")).
//		AddAgent(agent) // Status(ctx) and Counters()
//	reg, err := metrics.NewRegistry(set)
//	...
//	err = metrics.Serve(ctx, cfg.Listen.Metrics, cfg.Listen.MetricsWebConfig, reg, log)
//
// Here the md collector reads the kernel captures instead of /sys and /proc.
func ExampleNewSet() {
	caps, err := fixture.Load("../mdcluster/md/testdata")
	if err != nil {
		fmt.Println(err)
		return
	}
	root, _ := os.MkdirTemp("", "metrics-example-")
	defer os.RemoveAll(root)
	if err := fixture.Write(root, caps, 0); err != nil {
		fmt.Println(err)
		return
	}
	fs, _ := md.NewFS(root)
	reg, err := metrics.NewRegistry(metrics.NewSet(slog.Default()).AddMD(metrics.MDOptions{FS: fs, NodeCompat: true}))
	if err != nil {
		fmt.Println(err)
		return
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "node_md_degraded" {
			continue
		}
		for _, m := range mf.GetMetric() {
			fmt.Printf("%s{device=%q} %g\n", mf.GetName(), m.GetLabel()[0].GetValue(), m.GetGauge().GetValue())
		}
	}
	// Output:
	// node_md_degraded{device="md0"} 0
	// node_md_degraded{device="md1"} 0
	// node_md_degraded{device="md2"} 0
	// node_md_degraded{device="md3"} 2
	// node_md_degraded{device="md4"} 0
	// node_md_degraded{device="md5"} 0
	// node_md_degraded{device="md6"} 0
}
