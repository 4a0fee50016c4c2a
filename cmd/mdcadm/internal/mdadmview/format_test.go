package mdadmview

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHumanSize(t *testing.T) {
	tests := []struct {
		bytes int64
		want  string
	}{
		{0, ""},
		{5000*1024 - 1, ""},
		{5000 * 1024, " (4.88 MiB 5.12 MB)"},
		{126976 << 9, " (62.00 MiB 65.01 MB)"},
		{2<<30 - 1, " (2048.00 MiB 2147.48 MB)"},
		{2 << 30, " (2.00 GiB 2.15 GB)"},
		{1 << 40, " (1024.00 GiB 1099.51 GB)"},
		{4 << 40, " (4.00 TiB 4.40 TB)"},
		{-1, ""},
	}
	for _, tt := range tests {
		if got := humanSize(tt.bytes); got != tt.want {
			t.Errorf("humanSize(%d) = %q, want %q", tt.bytes, got, tt.want)
		}
	}
	brief := []struct {
		bytes int64
		want  string
	}{
		{4 << 20, ""},
		{126976 << 9, "65.01MB"},
		{1 << 40, "1099.51GB"},
		{4 << 40, "4.40TB"},
	}
	for _, tt := range brief {
		if got := humanSizeJEDEC(tt.bytes); got != tt.want {
			t.Errorf("humanSizeJEDEC(%d) = %q, want %q", tt.bytes, got, tt.want)
		}
	}
}

func TestSmallFormats(t *testing.T) {
	utc := time.UTC
	plus := time.FixedZone("CET", 3600)
	tests := []struct {
		name      string
		got, want string
	}{
		{"chunksize 512", humanChunksize(512), "512 B"},
		{"chunksize 64K", humanChunksize(65536), "64 KB"},
		{"chunksize 64M", humanChunksize(64 << 20), "64 MB"},
		{"chunksize 2G", humanChunksize(1 << 31), "2 GB"},
		{"chunksize 1000", humanChunksize(1000), "1000 B"},
		{"chunksize 1536", humanChunksize(1536), "1 KB"},
		{"r10 n2", r10Layout(0x102), " near=2"},
		{"r10 f2", r10Layout(0x201), " far=2"},
		{"r10 o2", r10Layout(0x10201), " offset=2"},
		{"r10 n2 f2", r10Layout(0x202), " near=2, far=2"},
		{"r10 n1 f1", r10Layout(0x101), "NO REDUNDANCY"},
		{"r5 default", r5Layout(2), "left-symmetric"},
		{"r5 unknown", r5Layout(9), "-unknown-"},
		{"r6 ddf", r6Layout(8), "ddf-zero-restart"},
		{"r6 ra", r6Layout(1), "right-asymmetric"},
		{"r0 alt", r0Layout(2), "alternate"},
		{"level -4", levelName(-4), "multipath"},
		{"level 3", levelName(3), "-unknown-"},
		{"ctime UTC", ctimeOf(time.Unix(1700000000, 0), utc), "Tue Nov 14 22:13:20 2023"},
		{"ctime CET", ctimeOf(time.Unix(1700000000, 0), plus), "Tue Nov 14 23:13:20 2023"},
		{"ctime day pad", ctimeOf(time.Unix(1704412800, 0), utc), "Fri Jan  5 00:00:00 2024"},
		{"ctime year 36812 cut like %.24s", ctimeOf(time.Unix(0xffffffffff, 0), utc), "Mon Feb 20 00:36:15 3681"},
		{"JSON year 36812", mustJSON(t, Time{time.Unix(0xffffffffff, 0).In(utc)}), `"36812-02-20T00:36:15Z"`},
		{"uuid", uuidString([16]byte{0x10, 0xd4, 0x2f, 0x6e, 0x50, 0x47, 0x03, 0x13, 0xe0, 0x14, 0x6a, 0xe7, 0xb4, 0xd8, 0x71, 0xb2}),
			"10d42f6e:50470313:e0146ae7:b4d871b2"},
		{"cstr full", cstr([]byte("abcdef"), 4), "abcd"},
		{"cstr nul", cstr([]byte("ab\x00cd"), 32), "ab"},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
