//go:build mdadm

// Run with: go test -tags mdadm ./cmd/mdcadm/internal/mdadmview
// Needs mdadm 4.2 (Debian 12: apt-get install mdadm) in PATH; the
// --examine-bitmap cases also need root and a free loop device.

package mdadmview

import (
	"bytes"
	"encoding/binary"
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
	{name: "big-clustered-8x1M", mod: func(m *Member) {
		// 4 TiB members, 4 MiB chunks: 1M chunks per slot, 8 slots.
		sb := m.Super
		sb.Size, sb.DataSize = 1<<33, 1<<33
		m.DeviceSectors = 1<<33 + 4096
		m.Bitmap.Nodes, m.Bitmap.ChunkSize, m.Bitmap.SyncSize = 8, 4<<20, 1<<33
		m.Bitmap.WriteBehind, m.Bitmap.DaemonSleep = 4096, 60
		copy(m.Bitmap.ClusterName[:], "a-cluster-name-that-is-exactly-sixty-four-bytes-long-0123456789!")
	}, dirty: map[int][]uint64{0: seq(0, 1<<20), 3: seq(1000, 1777), 7: {1<<20 - 1}}},
	{name: "v1.0-clustered", mod: func(m *Member) {
		sb := m.Super
		m.DeviceSectors = 4 << 21 // 4 GiB
		sb.SuperOffset = m.DeviceSectors - 16
		sb.Size, sb.DataSize = m.DeviceSectors-16-2*8-8, m.DeviceSectors-16-2*8-8
		sb.DataOffset, sb.BitmapOffset, sb.BBLogOffset = 0, -16, -24
		m.Bitmap.SyncSize, m.Bitmap.ChunkSize = sb.Size, 64<<20
	}, dirty: map[int][]uint64{1: {0, 5, 63}}},
	{name: "stale-v3-bitmap", mod: func(m *Member) {
		m.Super.FeatureMap = bitmap.FeatureBitmapOffset
		m.Bitmap.Version, m.Bitmap.Nodes, m.Bitmap.State, m.Bitmap.ChunkSize = 3, 0, 2|1, 512
		m.Bitmap.SyncSize = 30000
	}, dirty: map[int][]uint64{0: seq(0, 29999)}},
	{name: "levels-raid6-4", mod: func(m *Member) {
		sb := m.Super
		sb.Level, sb.RaidDisks, sb.Layout, sb.ChunkSize = 6, 6, 20, 128
		sb.MaxDev, sb.DevRoles = 6, []uint16{0, 1, 2, 3, 4, 5}
		m.DeviceSectors = 3 << 31 // 3 TiB
		sb.Size, sb.DataSize = 3<<31-8192, 3<<31-4096
		m.Bitmap.SyncSize, m.Bitmap.ChunkSize = sb.Size, 64<<20
	}},
	{name: "raid4", mod: func(m *Member) {
		sb := m.Super
		sb.Level, sb.RaidDisks, sb.Layout, sb.ChunkSize, sb.FeatureMap = 4, 3, 5, 64, 0
		sb.MaxDev, sb.DevRoles = 3, []uint16{0, 1, 2}
		m.Bitmap = nil
	}},
	{name: "multipath-and-unknown-flags", mod: func(m *Member) {
		m.Super.Level, m.Super.DevFlags, m.Super.FeatureMap = -4, 4, 0
		m.Bitmap = nil
	}},
	{name: "unknown-level", mod: func(m *Member) { m.Super.Level, m.Super.FeatureMap = 3, 0; m.Bitmap = nil }},
	{name: "raid10-far3", mod: func(m *Member) {
		sb := m.Super
		sb.Level, sb.RaidDisks, sb.Layout, sb.ChunkSize = 10, 3, 0x301, 1024
		sb.MaxDev, sb.DevRoles = 3, []uint16{0, 1, 2}
	}},
	{name: "bad-blocks-present", mod: func(m *Member) {
		m.Super.FeatureMap |= bitmap.FeatureBadBlocks
		m.Super.BBLogSize = 64
	}},
	{name: "far-future-name32", mod: func(m *Member) {
		m.Super.CTime, m.Super.UTime = 0xffffffffff, 4102444800|999<<40
		copy(m.Super.SetName[:], "abcdefghijklmnopqrstuvwxyz012345")
	}},
	{name: "dev-number-past-max-dev", mod: func(m *Member) { m.Super.DevNumber = 9 }},
}

func seq(from, to uint64) []uint64 {
	out := make([]uint64, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
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
	path := filepath.Join(t.TempDir(), "member.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(int64(m.DeviceSectors * bitmap.SectorSize)); err != nil {
		t.Fatal(err)
	}
	write := func(b []byte, off int64) {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	sb, _ := m.Super.MarshalBinary()
	binary.LittleEndian.PutUint32(sb[216:], bitmap.Checksum(sb))
	write(sb, int64(m.Super.SuperOffset)*bitmap.SectorSize)
	if m.Bitmap != nil && m.Super.FeatureMap&bitmap.FeatureBitmapOffset != 0 {
		base := (int64(m.Super.SuperOffset) + int64(m.Super.BitmapOffset)) * bitmap.SectorSize
		for i := 0; i < max(1, int(m.Bitmap.Nodes)); i++ {
			off := base + int64(i)*int64(m.Bitmap.SlotBytes())
			bsb := make([]byte, bitmap.BitmapSuperblockSize)
			putBitmapSuper(bsb, 0, m.Bitmap)
			write(bsb, off)
			bits := map[int64]byte{}
			for _, c := range dirty[i] {
				bits[int64(c/8)] |= 1 << (c % 8)
			}
			for o, v := range bits {
				write([]byte{v}, off+bitmap.BitmapSuperblockSize+o)
			}
		}
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
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r := bitmap.NewReader(f, int64(m.DeviceSectors*bitmap.SectorSize))
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
			want = runMdadm(t, mdadm, "--examine-bitmap", dev)
			if diff := cmp.Diff(want, b.String()); diff != "" {
				t.Errorf("--examine-bitmap (-mdadm +ours):\n%s", diff)
			}
			t.Logf("--examine-bitmap compared: %d lines", strings.Count(want, "\n"))
		})
	}
}
