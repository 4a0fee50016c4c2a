package md

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseArrayInvalid(t *testing.T) {
	tests := []struct {
		name  string
		attrs map[string]string
	}{
		{"raid_disks not a number", map[string]string{"raid_disks": "two"}},
		{"sync_completed without slash", map[string]string{"sync_completed": "12 of 100"}},
		{"sync_completed bad total", map[string]string{"sync_completed": "12 / x"}},
		{"speed limit without scope", map[string]string{"sync_speed_min": "1000"}},
		{"speed limit unknown scope", map[string]string{"sync_speed_max": "1000 (global)"}},
		{"sync_max garbage", map[string]string{"sync_max": "maximum"}},
		{"uuid short", map[string]string{"uuid": "2dbd896a-68e0"}},
		{"bitmap location", map[string]string{"bitmap/location": "+eight"}},
		{"mismatch_cnt negative", map[string]string{"mismatch_cnt": "-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseArray(rawArray{name: "md0", attrs: tt.attrs})
			if !errors.Is(err, ErrParse) {
				t.Fatalf("got %v, want ErrParse", err)
			}
		})
	}
	_, err := parseArray(rawArray{name: "md0", dev: "9", attrs: map[string]string{}})
	if !errors.Is(err, ErrParse) {
		t.Errorf("dev %q: got %v, want ErrParse", "9", err)
	}
	_, err = parseArray(rawArray{name: "md0", attrs: map[string]string{},
		members: map[string]map[string]string{"vda": {"slot": "first"}}})
	if !errors.Is(err, ErrParse) {
		t.Errorf("member slot: got %v, want ErrParse", err)
	}
}

// TestParseArrayForms covers forms the captures lack: reshape's "new (old)", a delayed sync,
// a file bitmap, a negative bitmap offset and several member flags.
func TestParseArrayForms(t *testing.T) {
	got, err := parseArray(rawArray{name: "md7", attrs: map[string]string{
		"raid_disks": "4 (3)", "chunk_size": "131072 (65536)", "sync_completed": "delayed",
		"bitmap/location": "-64", "bitmap/chunksize": "4096", "bitmap/metadata": "clustered",
	}, members: map[string]map[string]string{
		"sdb": {"state": "in_sync,write_mostly,blocked", "slot": "2", "errors": "3"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := Array{Name: "md7", RaidDisks: 4, ChunkSize: 131072, SyncCompleted: &SyncProgress{Delayed: true},
		SyncMax: NoSyncMax, Bitmap: &Bitmap{Location: "-64", Offset: -64, ChunkSize: 4096, Metadata: "clustered"},
		Members: []Member{{Name: "sdb", State: []MemberFlag{MemberInSync, MemberWriteMostly, MemberBlocked}, Slot: 2, Errors: 3}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !got.Bitmap.Clustered() || !got.Members[0].Has(MemberBlocked) || got.Members[0].Has(MemberFaulty) {
		t.Errorf("Clustered/Has disagree with %+v", got)
	}
	fb, err := parseArray(rawArray{name: "md8", attrs: map[string]string{"bitmap/location": "file"}})
	if err != nil || fb.Bitmap == nil || fb.Bitmap.Location != "file" || fb.Bitmap.Offset != 0 {
		t.Errorf("file bitmap: %+v, %v", fb.Bitmap, err)
	}
}

func TestUUID(t *testing.T) {
	const s = "10d42f6e-5047-0313-e014-6ae7b4d871b2"
	u, err := ParseUUID(s)
	if err != nil {
		t.Fatal(err)
	}
	if u.String() != s {
		t.Errorf("String() = %q, want %q", u.String(), s)
	}
	if m, err := ParseUUID("10d42f6e:50470313:e0146ae7:b4d871b2"); err != nil || m != u {
		t.Errorf("mdadm form: %v, %v", m, err)
	}
	for _, bad := range []string{"", "10d42f6e-5047-0313-e014-6ae7b4d871", "zzd42f6e-5047-0313-e014-6ae7b4d871b2"} {
		if _, err := ParseUUID(bad); !errors.Is(err, ErrParse) {
			t.Errorf("ParseUUID(%q): got %v, want ErrParse", bad, err)
		}
	}
}
