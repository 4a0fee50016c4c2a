package bitmap

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const devSectors = 131072 // 64 MiB

func TestSuperblockOffset(t *testing.T) {
	tests := []struct {
		minor   int
		sectors uint64
		want    uint64
		err     error
	}{
		{0, 131072, 131056, nil}, // 8 KiB before the end
		{0, 131075, 131056, nil}, // rounded down to 4 KiB
		{0, 131079, 131056, nil}, // still < 12 KiB from the end
		{0, 131080, 131064, nil},
		{1, 131072, 0, nil},
		{2, 131072, 8, nil},
		{0, 24, 8, nil},
		{2, 23, 0, ErrTruncated},
		{3, 131072, 0, ErrUnsupportedVersion},
		{-1, 131072, 0, ErrUnsupportedVersion},
	}
	for _, tt := range tests {
		got, err := SuperblockOffset(tt.minor, tt.sectors)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("SuperblockOffset(%d, %d) = %d, %v; want %d, %v", tt.minor, tt.sectors, got, err, tt.want, tt.err)
		}
	}
}

func TestReaderSuperblock(t *testing.T) {
	for minor := 0; minor <= 2; minor++ {
		sb := testSuperblock()
		if minor == 0 {
			sb.DataOffset, sb.BitmapOffset = 0, -136 // bitmap before the superblock
		}
		im := buildImage(t, minor, devSectors, sb, nil, nil)
		r := NewReader(im, int64(len(im.buf)))
		got, err := r.Superblock(minor)
		if err != nil {
			t.Fatalf("v1.%d: %v", minor, err)
		}
		want := *sb
		want.SBCsum = Checksum(encodeSuperblock(sb, false))
		want.ComputedCsum = want.SBCsum
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Errorf("v1.%d (-want +got):\n%s", minor, diff)
		}
		if got.MinorVersion() != minor {
			t.Errorf("v1.%d: MinorVersion = %d", minor, got.MinorVersion())
		}
		probed, pm, err := r.ProbeSuperblock()
		if err != nil || pm != minor || probed.SuperOffset != sb.SuperOffset {
			t.Errorf("v1.%d: ProbeSuperblock = minor %d, %v", minor, pm, err)
		}
		for other := 0; other <= 2; other++ {
			if other == minor {
				continue
			}
			if _, err := r.Superblock(other); !errors.Is(err, ErrBadMagic) {
				t.Errorf("v1.%d image read as v1.%d: err = %v, want ErrBadMagic", minor, other, err)
			}
		}
	}
}

func TestReaderSuperOffsetMismatch(t *testing.T) {
	im := buildImage(t, 2, devSectors, testSuperblock(), nil, nil)
	sb := testSuperblock()
	sb.SuperOffset = 0 // a 1.1 superblock copied to 4 KiB
	copy(im.buf[8*SectorSize:], encodeSuperblock(sb, false))
	_, err := NewReader(im, int64(len(im.buf))).Superblock(2)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "super_offset" || fe.Offset != 144 || !errors.Is(err, ErrInvalidField) {
		t.Fatalf("err = %v, want super_offset field error", err)
	}
}

func TestProbeSuperblock(t *testing.T) {
	t.Run("latest ctime wins", func(t *testing.T) {
		im := buildImage(t, 2, devSectors, testSuperblock(), nil, nil)
		old := testSuperblock()
		old.CTime--
		old.SuperOffset = 0
		copy(im.buf, encodeSuperblock(old, false))
		newer := testSuperblock()
		newer.CTime++
		newer.SuperOffset = 131056
		copy(im.buf[131056*SectorSize:], encodeSuperblock(newer, false))
		sb, minor, err := NewReader(im, int64(len(im.buf))).ProbeSuperblock()
		if err != nil || minor != 0 || sb.CTime != newer.CTime {
			t.Fatalf("ProbeSuperblock = minor %d, %v; want 1.0", minor, err)
		}
	})
	t.Run("tie keeps the first tried", func(t *testing.T) {
		im := buildImage(t, 2, devSectors, testSuperblock(), nil, nil)
		one := testSuperblock()
		one.SuperOffset = 0
		copy(im.buf, encodeSuperblock(one, false))
		if _, minor, err := NewReader(im, int64(len(im.buf))).ProbeSuperblock(); err != nil || minor != 1 {
			t.Fatalf("ProbeSuperblock = minor %d, %v; want 1.1", minor, err)
		}
	})
	t.Run("none", func(t *testing.T) {
		_, _, err := NewReader(&sparse{size: devSectors * SectorSize}, devSectors*SectorSize).ProbeSuperblock()
		if !errors.Is(err, ErrNoSuperblock) || !errors.Is(err, ErrBadMagic) {
			t.Fatalf("err = %v, want ErrNoSuperblock wrapping ErrBadMagic", err)
		}
	})
	t.Run("device too small", func(t *testing.T) {
		_, _, err := NewReader(&sparse{size: 23 * SectorSize}, 23*SectorSize).ProbeSuperblock()
		if !errors.Is(err, ErrTruncated) || errors.Is(err, ErrNoSuperblock) {
			t.Fatalf("err = %v, want ErrTruncated", err)
		}
	})
	t.Run("i/o error stops the probe", func(t *testing.T) {
		dev := &sparse{size: devSectors * SectorSize, failAt: 100}
		_, _, err := NewReader(dev, dev.size).ProbeSuperblock()
		if !errors.Is(err, errIO) || !strings.Contains(err.Error(), "probe v1.1 superblock") {
			t.Fatalf("err = %v, want the i/o error from v1.1", err)
		}
	})
	t.Run("reader shorter than its size", func(t *testing.T) {
		dev := &sparse{size: 4096}
		_, err := NewReader(dev, devSectors*SectorSize).Superblock(2)
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("err = %v, want ErrTruncated", err)
		}
	})
}

func TestBitmapOffset(t *testing.T) {
	size := int64(devSectors * SectorSize)
	tests := []struct {
		name   string
		mod    func(*Superblock)
		want   int64
		err    error
		field  string
		offset int
	}{
		{name: "v1.2 +8", want: 16 * SectorSize},
		{name: "negative", mod: func(sb *Superblock) { sb.BitmapOffset = -8 }, want: 0},
		{name: "before the device", mod: func(sb *Superblock) { sb.BitmapOffset = -9 }, err: ErrOutOfBounds, field: "bitmap_offset", offset: 96},
		{name: "past the end", mod: func(sb *Superblock) { sb.BitmapOffset = devSectors }, err: ErrOutOfBounds, field: "bitmap_offset", offset: 96},
		{name: "superblock past the end", mod: func(sb *Superblock) { sb.SuperOffset = 1 << 62 }, err: ErrOutOfBounds, field: "super_offset", offset: 144},
		{name: "no bitmap", mod: func(sb *Superblock) { sb.FeatureMap = 0 }, err: ErrNoBitmap},
	}
	for _, tt := range tests {
		sb := testSuperblock()
		if tt.mod != nil {
			tt.mod(sb)
		}
		got, err := NewReader(&sparse{size: size}, size).BitmapOffset(sb)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("%s: BitmapOffset = %d, %v; want %d, %v", tt.name, got, err, tt.want, tt.err)
			continue
		}
		var fe *FieldError
		if tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field || fe.Offset != tt.offset) {
			t.Errorf("%s: err = %v, want field %s at %d", tt.name, err, tt.field, tt.offset)
		}
	}
}
