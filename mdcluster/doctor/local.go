package doctor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"mdcluster.dev/bitmap"
	"mdcluster.dev/mdcluster/config"
)

// Modules are the kernel modules md on shared disks needs (md-cluster's name in sysfs).
var Modules = []string{"md_mod", "raid1", "raid10", "raid456", "md_cluster", "dlm"}

// Host is where the local checks look: the running system (Root "/"), or a test's tree. The
// functions that act on the kernel are fields so tests can stand in for them.
type Host struct {
	Root string
	// Modprobe loads a module.
	Modprobe func(ctx context.Context, name string) error
	// TryWatchdog opens dev (which arms it), asks for timeout, and disarms it with the magic
	// close; it returns the timeout the driver accepted.
	TryWatchdog func(dev string, timeout time.Duration) (time.Duration, error)
	// Superblock reads the md v1 superblock of a member device.
	Superblock func(path string) (*bitmap.Superblock, *bitmap.BitmapSuperblock, error)
}

// System is the running system.
func System() Host {
	return Host{Root: "/", Modprobe: modprobe, TryWatchdog: tryWatchdog, Superblock: readSuperblock}
}

func (h Host) path(p string) string { return filepath.Join(h.Root, p) }

// Gather collects this node's local facts for cfg (the lock service and clock facts come from
// Probe).
func Gather(ctx context.Context, h Host, cfg *config.Config, version string) Facts {
	f := Facts{Node: cfg.Node.Name, Cluster: cfg.Cluster.Name, Written: time.Now(), Version: version,
		Engine: cfg.LockEngine.Type, TTL: Duration{cfg.Leases.TTL.Duration}, Margin: Duration{cfg.Leases.WatchdogMargin.Duration}}
	f.Modules = h.modules(ctx)
	f.Watchdog = h.watchdog(cfg)
	f.Udev = h.udev(cfg)
	f.MdadmConf = h.mdadmConf(cfg)
	for _, a := range cfg.Arrays {
		af := ArrayFact{UUID: a.UUID, Name: a.Name, Mode: a.Mode}
		for _, d := range a.Devices {
			af.Devices = append(af.Devices, h.device(d))
		}
		f.Arrays = append(f.Arrays, af)
	}
	return f
}

func (h Host) modules(ctx context.Context) []ModuleFact {
	var out []ModuleFact
	for _, m := range Modules {
		mf := ModuleFact{Name: m}
		if _, err := os.Stat(h.path("sys/module/" + m)); err != nil {
			if err := h.Modprobe(ctx, m); err != nil {
				mf.Err = err.Error()
			}
		}
		out = append(out, mf)
	}
	return out
}

func modprobe(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "modprobe", name).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("modprobe %s: %s", name, msg)
	}
	return nil
}

// device resolves one member path and reads its superblock.
func (h Host) device(p string) DeviceFact {
	df := DeviceFact{Path: p}
	t, err := filepath.EvalSymlinks(h.path(p))
	if err != nil {
		df.Err = err.Error()
		if os.IsNotExist(err) {
			df.Err = "no such device"
		}
		return df
	}
	df.Target = strings.TrimPrefix(t, strings.TrimSuffix(h.Root, "/"))
	sb, bsb, err := h.Superblock(t)
	if err != nil {
		df.Err = err.Error()
		return df
	}
	df.ArrayUUID, df.DeviceUUID = mdadmUUID(sb.SetUUID), mdadmUUID(sb.DeviceUUID)
	if bsb != nil && bsb.Clustered() {
		df.Cluster = bsb.Name()
	}
	return df
}

func readSuperblock(path string) (*bitmap.Superblock, *bitmap.BitmapSuperblock, error) {
	d, err := bitmap.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer d.File.Close()
	r := d.Reader()
	sb, _, err := r.ProbeSuperblock()
	if err != nil {
		return nil, nil, fmt.Errorf("no md superblock: %w", err)
	}
	if sb.FeatureMap&bitmap.FeatureBitmapOffset == 0 {
		return sb, nil, nil
	}
	bsb, err := r.BitmapSuperblock(sb)
	if err != nil {
		return sb, nil, nil // the cluster name is only for clustered bitmaps; the UUIDs stand
	}
	return sb, bsb, nil
}

func mdadmUUID(u [16]byte) string {
	h := fmt.Sprintf("%x", u[:])
	return h[0:8] + ":" + h[8:16] + ":" + h[16:24] + ":" + h[24:32]
}
