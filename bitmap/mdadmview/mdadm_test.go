//go:build mdadm

// Run with: go test -tags mdadm ./bitmap/mdadmview
// Needs mdadm 4.2 (Debian 12: apt-get install mdadm) in PATH; the
// --examine-bitmap cases also need root and a free loop device.

package mdadmview

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"mdcluster.dev/bitmap"
)

type mdadmCase struct {
	name  string
	mod   func(*Member)
	dirty map[int][]uint64 // chunks set per bitmap slot
	args  []string         // extra --examine arguments
}

var mdadmCases = []mdadmCase{
	{name: "clustered-raid1", dirty: map[int][]uint64{1: {0, 1, 2, 500}}},
	{name: "plain-raid1", mod: func(m *Member) {
		m.Super.FeatureMap, m.Bitmap.Version, m.Bitmap.Nodes = bitmap.FeatureBitmapOffset, 4, 0
		m.Bitmap.ClusterName = [64]byte{}
		m.Bitmap.WriteBehind, m.Bitmap.State = 256, 2
	}, dirty: map[int][]uint64{0: {3, 991}}},
	{name: "homehost", args: []string{"--homehost=node1"}},
	{name: "bad-checksum", mod: func(m *Member) { m.Super.Events = 99 }},
	{name: "spare-flags-active", mod: func(m *Member) {
		m.Super.DevRoles[1], m.Super.DevFlags, m.Super.ResyncOffset = bitmap.RoleSpare, 3, 12345
	}},
	{name: "raid5-no-bitmap", mod: func(m *Member) {
		sb := m.Super
		sb.FeatureMap, sb.Level, sb.RaidDisks, sb.Layout, sb.ChunkSize = 0, 5, 4, 2, 1024
		sb.Size = 120000
		sb.MaxDev, sb.DevRoles = 4, []uint16{0, 1, 2, 3}
		m.Bitmap = nil
	}},
	{name: "raid10-n2", mod: func(m *Member) {
		sb := m.Super
		sb.Level, sb.RaidDisks, sb.Layout, sb.ChunkSize = 10, 4, 0x102, 1024
		sb.MaxDev, sb.DevRoles = 4, []uint16{0, 1, 2, bitmap.RoleFaulty}
	}},
	{name: "raid10-o2-replacement", mod: func(m *Member) {
		sb := m.Super
		sb.Level, sb.RaidDisks, sb.Layout, sb.ChunkSize = 10, 2, 0x10201, 128
		sb.FeatureMap |= bitmap.FeatureReplacement | bitmap.FeatureRecoveryOffset
		sb.RecoveryOffset = 2048
		sb.MaxDev, sb.DevRoles = 3, []uint16{0, 1, 1}
	}},
	{name: "linear", mod: func(m *Member) {
		sb := m.Super
		sb.Level, sb.ChunkSize, sb.Size, sb.FeatureMap = -1, 0, 0, 0
		m.Bitmap = nil
	}},
	{name: "raid0-layout", mod: func(m *Member) {
		sb := m.Super
		sb.Level, sb.Layout, sb.ChunkSize, sb.FeatureMap = 0, 2, 1024, bitmap.FeatureRAID0Layout
		sb.Size = 0
		m.Bitmap = nil
	}},
	{name: "reshape-raid5-to-6", mod: func(m *Member) {
		sb := m.Super
		sb.Level, sb.RaidDisks, sb.Layout, sb.ChunkSize = 5, 4, 2, 1024
		sb.MaxDev, sb.DevRoles = 5, []uint16{0, 1, 2, 3, 4}
		sb.FeatureMap = bitmap.FeatureReshapeActive
		sb.ReshapePosition, sb.DeltaDisks, sb.NewLevel, sb.NewLayout, sb.NewChunk = 40960, 1, 6, 18, 256
		m.Bitmap = nil
	}},
	{name: "reshape-shrink-new-offset", mod: func(m *Member) {
		sb := m.Super
		sb.Level, sb.RaidDisks, sb.Layout, sb.ChunkSize = 5, 3, 2, 1024
		sb.MaxDev, sb.DevRoles = 4, []uint16{0, 1, 2, 3}
		sb.FeatureMap = bitmap.FeatureReshapeActive | bitmap.FeatureNewOffset
		sb.ReshapePosition, sb.DeltaDisks, sb.NewLevel, sb.NewLayout, sb.NewChunk = 1000, -1, 5, 2, 1024
		sb.NewOffset = -2048
		m.Bitmap = nil
	}},
	{name: "raid5-ppl", mod: func(m *Member) {
		sb := m.Super
		sb.Level, sb.RaidDisks, sb.Layout, sb.ChunkSize = 5, 3, 2, 1024
		sb.MaxDev, sb.DevRoles = 3, []uint16{0, 1, 2}
		sb.FeatureMap = bitmap.FeaturePPL
		sb.BitmapOffset = int32(uint32(2048)<<16 | 8)
		m.Bitmap = nil
	}},
	{name: "inconsistent", mod: func(m *Member) {
		m.Super.MaxDev, m.Super.DevRoles = 4, []uint16{0, 0, bitmap.RoleSpare, 7}
	}},
	{name: "journal", mod: func(m *Member) {
		m.Super.FeatureMap |= bitmap.FeatureJournal
		m.Super.DevRoles[1] = bitmap.RoleJournal
	}},
	{name: "v1.0-raid1", mod: func(m *Member) {
		sb := m.Super
		sb.SuperOffset, sb.DataOffset, sb.BitmapOffset, sb.BBLogOffset = 131056, 0, -16, -8
		sb.Size, sb.DataSize = 131040, 131040
		m.Bitmap.SyncSize = 131040
	}},
	{name: "v1.1-raid1", mod: func(m *Member) {
		sb := m.Super
		sb.SuperOffset, sb.DataOffset = 0, 2048
		sb.Size, sb.DataSize = 129024, 129024
		m.Bitmap.SyncSize = 129024
	}},
	{name: "bad-bitmap-uuid", mod: func(m *Member) { m.Bitmap.UUID[3] ^= 1 }},
}

func needMdadm(t *testing.T) string {
	path, err := exec.LookPath("mdadm")
	if err != nil {
		t.Skip("mdadm not installed")
	}
	out, _ := exec.Command(path, "--version").CombinedOutput()
	if !strings.Contains(string(out), "v4.2") {
		t.Skipf("need mdadm 4.2, have %s", out)
	}
	return path
}

// writeImage writes m as a sparse device file and returns its path.
func writeImage(t *testing.T, m *Member, dirty map[int][]uint64) string {
	t.Helper()
	dev := make([]byte, m.DeviceSectors*bitmap.SectorSize)
	putSuperblock(dev, m.Super)
	if m.Bitmap != nil && m.Super.FeatureMap&bitmap.FeatureBitmapOffset != 0 {
		base := int(int64(m.Super.SuperOffset)+int64(m.Super.BitmapOffset)) * bitmap.SectorSize
		for i := 0; i < max(1, int(m.Bitmap.Nodes)); i++ {
			off := base + i*int(m.Bitmap.SlotBytes())
			putBitmapSuper(dev, off, m.Bitmap)
			for _, c := range dirty[i] {
				dev[off+bitmap.BitmapSuperblockSize+int(c/8)] |= 1 << (c % 8)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "member.img")
	if err := os.WriteFile(path, dev, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runMdadm(t *testing.T, mdadm string, args ...string) string {
	t.Helper()
	cmd := exec.Command(mdadm, args...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Logf("mdadm %v: %v: %s", args, err, stderr.String())
	}
	return stdout.String()
}

func TestAgainstMdadm(t *testing.T) {
	mdadm := needMdadm(t)
	for _, tc := range mdadmCases {
		t.Run(tc.name, func(t *testing.T) {
			m := member()
			if tc.mod != nil {
				tc.mod(m)
			}
			path := writeImage(t, m, tc.dirty)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			r := bitmap.NewReader(bytes.NewReader(data), int64(len(data)))
			got, err := LoadMember(r, path)
			if err != nil {
				t.Fatal(err)
			}
			opt := Options{Location: time.UTC}
			for _, a := range tc.args {
				if h, ok := strings.CutPrefix(a, "--homehost="); ok {
					opt.Homehost = h
				}
			}
			var b bytes.Buffer
			if err := NewExamine(got, opt).WriteText(&b, opt); err != nil {
				t.Fatal(err)
			}
			want := runMdadm(t, mdadm, append([]string{"--examine", path}, tc.args...)...)
			if diff := cmp.Diff(want, b.String()); diff != "" {
				t.Errorf("--examine (-mdadm +ours):\n%s", diff)
			}
			b.Reset()
			_ = WriteBrief(&b, got)
			if diff := cmp.Diff(runMdadm(t, mdadm, "--examine", "--brief", path), b.String()); diff != "" {
				t.Errorf("--examine --brief (-mdadm +ours):\n%s", diff)
			}
			b.Reset()
			_ = WriteExport(&b, got)
			if diff := cmp.Diff(runMdadm(t, mdadm, "--examine", "--export", path), b.String()); diff != "" {
				t.Errorf("--examine --export (-mdadm +ours):\n%s", diff)
			}
			if !got.Super.HasBitmap() || os.Getuid() != 0 {
				return
			}
			loop, err := exec.Command("losetup", "-r", "-f", "--show", path).Output()
			if err != nil {
				t.Logf("no loop device: %v", err)
				return
			}
			dev := strings.TrimSpace(string(loop))
			defer exec.Command("losetup", "-d", dev).Run()
			b.Reset()
			// mdadm prints nothing on stdout for a bitmap it refuses.
			if bm, err := r.ReadBitmap(got.Super); err == nil {
				if err := NewExamineBitmap(dev, bm).WriteText(&b); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(runMdadm(t, mdadm, "--examine-bitmap", dev), b.String()); diff != "" {
				t.Errorf("--examine-bitmap (-mdadm +ours):\n%s", diff)
			}
		})
	}
}
