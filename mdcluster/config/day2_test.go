package config

import (
	"testing"
	"time"
)

// The events and scrub sections: each bound next to the value just inside it.
func TestRuleDay2(t *testing.T) {
	runRules(t, []rule{
		{"events defaults", minimal, ""},
		{"events max_count", minimal + "events: {max_count: 99}\n", `events.max_count: "99": want 100 to 1000000`},
		{"events max_age", minimal + "events: {max_age: 59m}\n", `events.max_age: "59m0s": want at least 1h`},
		{"events bounds", minimal + "events: {max_count: 100, max_age: 1h}\n", ""},
		{"scrub schedule", minimal + "scrub: {every: 720h, window: \"22:00-04:30\", speed_limit: 50000, action: repair}\n", ""},
		{"scrub every too short", minimal + "scrub: {every: 30m}\n", `scrub.every: "30m0s"`},
		{"scrub window", minimal + "scrub: {window: \"1am-5am\"}\n", `scrub.window: "1am-5am": want HH:MM-HH:MM`},
		{"scrub window empty", minimal + "scrub: {window: \"01:00-01:00\"}\n", `scrub.window: "01:00-01:00": an empty window`},
		{"scrub window trailing", minimal + "scrub: {window: \"01:00-02:00x\"}\n", `scrub.window`},
		{"scrub window to midnight", minimal + "scrub: {window: \"22:00-24:00\"}\n", ""},
		{"scrub max_concurrent over resync", minimal + "scrub: {max_concurrent: 2}\n", `scrub.max_concurrent: "2": want 1 to resync.max_concurrent (1)`},
		{"scrub max_concurrent within resync", minimal + "resync: {max_concurrent: 2}\nscrub: {max_concurrent: 2}\n", ""},
		{"scrub speed", minimal + "scrub: {speed_limit: -1}\n", `scrub.speed_limit: "-1"`},
		{"scrub action", minimal + "scrub: {action: frozen}\n", `scrub.action: "frozen": want check or repair`},
		{"scrub checkpoint", minimal + "scrub: {checkpoint: 500ms}\n", `scrub.checkpoint: "500ms"`},
		{"scrub unknown key", minimal + "scrub: {when: daily}\n", `unknown key "when" (in scrub)`},
	})
}

func TestWindowContains(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 3, 1, h, m, 0, 0, time.Local) }
	for _, tc := range []struct {
		window string
		t      time.Time
		in     bool
	}{
		{"", at(12, 0), true},
		{"01:00-05:00", at(0, 59), false},
		{"01:00-05:00", at(1, 0), true},
		{"01:00-05:00", at(4, 59), true},
		{"01:00-05:00", at(5, 0), false},
		{"22:00-04:30", at(23, 0), true},
		{"22:00-04:30", at(3, 0), true},
		{"22:00-04:30", at(4, 30), false},
		{"22:00-04:30", at(12, 0), false},
		{"22:00-24:00", at(23, 59), true},
	} {
		w, err := ParseWindow(tc.window)
		if err != nil {
			t.Fatal(err)
		}
		if got := w.Contains(tc.t); got != tc.in {
			t.Errorf("%q contains %s: %v, want %v", tc.window, tc.t.Format("15:04"), got, tc.in)
		}
	}
}
