package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// clusteredMD is fakeMD for a running clustered array of the given level
// and raid_disks.
func clusteredMD(t *testing.T, env *Env, level string, disks int) string {
	t.Helper()
	md := fakeMD(t, env, "md127", "11111111:22222222:33333333:44444444", "clustered")
	d := env.path("/sys/block/md127/md")
	os.WriteFile(filepath.Join(d, "level"), []byte(level+"\n"), 0o644)
	os.WriteFile(filepath.Join(d, "raid_disks"), []byte(strconv.Itoa(disks)+"\n"), 0o644)
	return md
}

// TestClusterRefusals: every change md-cluster does not carry to the
// other nodes is refused on a clustered array with one line and exit 1,
// before any lease is asked or mdadm runs.
func TestClusterRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		level string
		disks int
		args  func(md string) []string
		want  string // part of the reason
	}{
		{"chunk", "raid10", 2, func(md string) []string { return []string{"--grow", md, "--chunk=128"} }, "chunk size"},
		{"chunk -c", "raid10", 2, func(md string) []string { return []string{"-G", md, "-c", "128"} }, "chunk size"},
		{"layout", "raid10", 2, func(md string) []string { return []string{"--grow", md, "--layout=n2"} }, "layout"},
		{"parity", "raid10", 2, func(md string) []string { return []string{"--grow", md, "-p", "o2"} }, "layout"},
		{"level", "raid1", 2, func(md string) []string { return []string{"--grow", md, "--level=5"} }, "level"},
		{"array-size", "raid1", 2, func(md string) []string { return []string{"--grow", md, "--array-size=1G"} }, "array size"},
		{"bitmap none", "raid1", 2, func(md string) []string { return []string{"--grow", md, "--bitmap=none"} }, "bitmap"},
		{"bitmap -b", "raid1", 2, func(md string) []string { return []string{"--grow", md, "-b", "internal"} }, "bitmap"},
		{"consistency policy", "raid1", 2, func(md string) []string { return []string{"--grow", md, "--consistency-policy=resync"} }, "bitmap"},
		{"data offset", "raid10", 2, func(md string) []string { return []string{"--grow", md, "--data-offset=64M"} }, "data offset"},
		{"raid10 fewer devices", "raid10", 3, func(md string) []string { return []string{"--grow", md, "--raid-devices=2"} }, "removes"},
		{"write-mostly", "raid1", 2, func(md string) []string { return []string{"--manage", md, "--write-mostly", "--add", "/dev/vdc"} }, "write-mostly"},
		{"-W", "raid1", 2, func(md string) []string { return []string{"--manage", md, "-W", "-a", "/dev/vdc"} }, "write-mostly"},
		{"clear write-mostly", "raid1", 2, func(md string) []string { return []string{"--manage", md, "--readwrite", "--re-add", "/dev/vdc"} }, "write-mostly"},
		{"failfast", "raid1", 2, func(md string) []string { return []string{"--manage", md, "--failfast", "--add", "/dev/vdc"} }, "failfast"},
		{"nofailfast", "raid1", 2, func(md string) []string { return []string{"--manage", md, "--nofailfast", "--re-add", "/dev/vdc"} }, "failfast"},
		{"re-add", "raid10", 2, func(md string) []string { return []string{"--manage", md, "--re-add", "/dev/vdc"} }, "does not carry a re-add to the other nodes (the re-adding node would rebuild"},
		{"re-add, no --manage", "raid1", 2, func(md string) []string { return []string{md, "--re-add", "/dev/vdc"} }, "zero its superblock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := twoNodes()
			env, errb, log := guardEnv(t, f)
			md := clusteredMD(t, env, tc.level, tc.disks)
			rc := Run(tc.args(md), env)
			e := errb.String()
			if rc != 1 || strings.Count(e, "\n") != 1 || !strings.HasPrefix(e, "mdcadm: array "+md+" is clustered: ") ||
				!strings.Contains(e, tc.want) || !strings.HasSuffix(e, "; not running mdadm\n") {
				t.Errorf("rc %d, stderr %q; want 1 and one line about %q", rc, e, tc.want)
			}
			if argv := mdadmArgv(t, log); argv != nil {
				t.Errorf("mdadm ran: %q", argv)
			}
			if len(f.acquired) != 0 {
				t.Errorf("leases asked: %v", f.acquired)
			}
		})
	}
}

// TestClusterAllowed: what md-cluster carries runs; and the same options
// on an array that is not clustered are not refused.
func TestClusterAllowed(t *testing.T) {
	for _, tc := range []struct {
		name      string
		clustered bool
		level     string
		disks     int
		args      func(md string) []string
	}{
		{"raid1 raid-devices", true, "raid1", 2, func(md string) []string { return []string{"--grow", md, "--raid-devices=3"} }},
		{"raid10 more devices", true, "raid10", 2, func(md string) []string { return []string{"--grow", md, "-n", "3"} }},
		{"size", true, "raid1", 2, func(md string) []string { return []string{"--grow", md, "--size=max"} }},
		{"add", true, "raid1", 2, func(md string) []string { return []string{md, "--add", "/dev/vdc"} }},
		{"remove failed", true, "raid1", 2, func(md string) []string { return []string{"--manage", md, "--remove", "failed"} }},
		{"chunk, not clustered", false, "raid10", 2, func(md string) []string { return []string{"--grow", md, "--chunk=128"} }},
		{"write-mostly, not clustered", false, "raid1", 2, func(md string) []string { return []string{"--manage", md, "-W", "-a", "/dev/vdc"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := twoNodes()
			env, errb, log := guardEnv(t, f)
			var md string
			if tc.clustered {
				md = clusteredMD(t, env, tc.level, tc.disks)
			} else {
				md = fakeMD(t, env, "md127", dataUUID, "internal")
			}
			if rc := Run(tc.args(md), env); rc != 0 || mdadmArgv(t, log) == nil {
				t.Errorf("rc %d, stderr %q, mdadm ran %v", rc, errb.String(), mdadmArgv(t, log) != nil)
			}
		})
	}
}
