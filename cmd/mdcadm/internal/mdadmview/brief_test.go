package mdadmview

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mdcluster.dev/bitmap"
)

func TestWriteBrief(t *testing.T) {
	const uuid = "10d42f6e:50470313:e0146ae7:b4d871b2"
	tests := []struct {
		name string
		mod  func(*Member)
		want string
	}{
		{"active", nil, "ARRAY /dev/md/md0  metadata=1.2 UUID=" + uuid + " name=node1:md0\n"},
		{"spare", func(m *Member) { m.Super.DevRoles[1] = bitmap.RoleSpare },
			"ARRAY /dev/md/md0  metadata=1.2 UUID=" + uuid + " name=node1:md0\n   spares=1\n"},
		{"replacement", func(m *Member) { m.Super.FeatureMap |= bitmap.FeatureReplacement },
			"ARRAY /dev/md/md0  metadata=1.2 UUID=" + uuid + " name=node1:md0\n   spares=1\n"},
		{"no name", func(m *Member) { m.Super.SetName = [32]byte{} },
			"ARRAY  metadata=1.2 UUID=" + uuid + "\n"},
		{"name without host", func(m *Member) { m.Super.SetName = [32]byte{'d', 'a', 't', 'a'} },
			"ARRAY /dev/md/data  metadata=1.2 UUID=" + uuid + " name=data\n"},
		{"spaces and slash", func(m *Member) { copy(m.Super.SetName[:], "my host:a b/c\x00") },
			"ARRAY /dev/md/a_b-c  metadata=1.2 UUID=" + uuid + ` name="my host:a b/c"` + "\n"},
		{"quotes", func(m *Member) { copy(m.Super.SetName[:], `h:say "hi"`+"\x00") },
			"ARRAY /dev/md/say_\"hi\"  metadata=1.2 UUID=" + uuid + ` name='h:say "hi"'` + "\n"},
		{"v1.0", func(m *Member) { m.Super.SuperOffset = 131056 },
			"ARRAY /dev/md/md0  metadata=1.0 UUID=" + uuid + " name=node1:md0\n"},
	}
	for _, tt := range tests {
		m := member()
		if tt.mod != nil {
			tt.mod(m)
		}
		var b bytes.Buffer
		if err := WriteBrief(&b, m); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, b.String()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
	if got := quoted(`a'b "c`); got != `"a'b "'"c'` {
		t.Errorf("quoted = %s", got)
	}
}

func TestWriteExport(t *testing.T) {
	var b bytes.Buffer
	if err := WriteExport(&b, member()); err != nil {
		t.Fatal(err)
	}
	want := `MD_LEVEL=raid1
MD_DEVICES=2
MD_NAME=node1:md0
MD_ARRAY_SIZE=65.01MB
MD_UUID=10d42f6e:50470313:e0146ae7:b4d871b2
MD_UPDATE_TIME=1700000100
MD_DEV_UUID=aabbccdd:01020304:05060708:090a0b0c
MD_EVENTS=17
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	m := member()
	m.Super.Level, m.Super.SetName = 0, [32]byte{}
	b.Reset()
	_ = WriteExport(&b, m)
	want = "MD_LEVEL=raid0\nMD_DEVICES=2\nMD_UUID=10d42f6e:50470313:e0146ae7:b4d871b2\n" +
		"MD_UPDATE_TIME=1700000100\nMD_DEV_UUID=aabbccdd:01020304:05060708:090a0b0c\nMD_EVENTS=17\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("raid0 (-want +got):\n%s", diff)
	}
}

func TestUnusedSpaceJournal(t *testing.T) {
	m := member()
	m.Super.DevRoles[1] = bitmap.RoleJournal
	m.DeviceSectors = 131075
	e := NewExamine(m, utc)
	if e.UnusedSpace == nil || *e.UnusedSpace != (Space{Before: 4016, After: (131075 - 4096) % 8}) {
		t.Errorf("UnusedSpace = %+v, want after=(dev-data_offset)%%8", e.UnusedSpace)
	}
}
