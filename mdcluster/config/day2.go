package config

import (
	"fmt"
	"time"
)

// Events bounds the cluster's event log, kept in the lock service (etcd): an append drops the
// oldest events beyond MaxCount and those older than MaxAge.
type Events struct {
	MaxCount int      `yaml:"max_count"`
	MaxAge   Duration `yaml:"max_age"`
}

// Scrub is the cluster-wide scrub schedule: every array is checked every Every, one node at a
// time, starting (and running) only inside the daily Window. A scrub takes one of the resync
// slots, so scrubs and resyncs share resync.max_concurrent; MaxConcurrent bounds the scrubs among
// them.
type Scrub struct {
	// Every is how long after its last finished scrub an array is scrubbed again; 0 turns the
	// schedule off (a scrub asked for by mdcadm --action or sync_action still runs).
	Every Duration `yaml:"every"`
	// Window is the local time of day scrubs may run, "HH:MM-HH:MM" (it may wrap midnight);
	// "" is any time. A scrub still running when it closes is paused at its checkpoint and
	// resumes in the next window.
	Window string `yaml:"window"`
	// MaxConcurrent is how many scrubs may run at once in the cluster (at most
	// resync.max_concurrent: each takes a resync slot).
	MaxConcurrent int `yaml:"max_concurrent"`
	// SpeedLimit is md's sync_speed_max for a scrubbing array, KiB/s; 0 leaves md's own.
	SpeedLimit int `yaml:"speed_limit"`
	// Action is what a scheduled scrub does: check (count mismatches) or repair (rewrite them).
	Action string `yaml:"action"`
	// Checkpoint is how often a running scrub's progress is saved in the lock service, so that
	// another node resumes it from there if this one dies.
	Checkpoint Duration `yaml:"checkpoint"`
}

// day2Defaults are the defaults of the events and scrub sections.
func day2Defaults(c *Config) {
	c.Events = Events{MaxCount: 10000, MaxAge: Duration{30 * 24 * time.Hour}}
	c.Scrub = Scrub{MaxConcurrent: 1, Action: "check", Checkpoint: Duration{30 * time.Second}}
}

// validateDay2 checks the events and scrub sections.
func (c *Config) validateDay2() error {
	if c.Events.MaxCount < 100 || c.Events.MaxCount > 1000000 {
		return keyErr("events.max_count", fmt.Sprint(c.Events.MaxCount), "want 100 to 1000000")
	}
	if c.Events.MaxAge.Duration < time.Hour {
		return keyErr("events.max_age", c.Events.MaxAge.String(), "want at least 1h")
	}
	s := c.Scrub
	if s.Every.Duration != 0 && s.Every.Duration < time.Hour {
		return keyErr("scrub.every", s.Every.String(), "want 0 (no schedule) or at least 1h")
	}
	if _, err := ParseWindow(s.Window); err != nil {
		return keyErr("scrub.window", s.Window, err.Error())
	}
	if s.MaxConcurrent < 1 || s.MaxConcurrent > c.Resync.MaxConcurrent {
		return keyErr("scrub.max_concurrent", fmt.Sprint(s.MaxConcurrent),
			fmt.Sprintf("want 1 to resync.max_concurrent (%d): scrubs take resync slots", c.Resync.MaxConcurrent))
	}
	if s.SpeedLimit < 0 || s.SpeedLimit > 10000000 {
		return keyErr("scrub.speed_limit", fmt.Sprint(s.SpeedLimit), "want 0 (md's own) to 10000000 KiB/s")
	}
	if s.Action != "check" && s.Action != "repair" {
		return keyErr("scrub.action", s.Action, "want check or repair")
	}
	if s.Checkpoint.Duration < time.Second || s.Checkpoint.Duration > time.Hour {
		return keyErr("scrub.checkpoint", s.Checkpoint.String(), "want 1s to 1h")
	}
	return nil
}

// Window is a daily time window in local time, [From, To) as offsets from midnight; the zero
// Window is the whole day.
type Window struct {
	From, To time.Duration
	set      bool
}

// ParseWindow parses "HH:MM-HH:MM" ("" is the whole day).
func ParseWindow(s string) (Window, error) {
	if s == "" {
		return Window{}, nil
	}
	var h1, m1, h2, m2 int
	var rest string
	if n, _ := fmt.Sscanf(s, "%d:%d-%d:%d%s", &h1, &m1, &h2, &m2, &rest); n != 4 ||
		h1 < 0 || h1 > 23 || h2 < 0 || h2 > 24 || m1 < 0 || m1 > 59 || m2 < 0 || m2 > 59 || (h2 == 24 && m2 != 0) {
		return Window{}, fmt.Errorf("want HH:MM-HH:MM, e.g. 01:00-05:00")
	}
	w := Window{From: time.Duration(h1)*time.Hour + time.Duration(m1)*time.Minute,
		To: time.Duration(h2)*time.Hour + time.Duration(m2)*time.Minute, set: true}
	if w.From == w.To {
		return Window{}, fmt.Errorf("an empty window: leave it out for any time of day")
	}
	return w, nil
}

// Contains reports whether t's local time of day is inside the window.
func (w Window) Contains(t time.Time) bool {
	if !w.set {
		return true
	}
	y, mo, d := t.Date()
	since := t.Sub(time.Date(y, mo, d, 0, 0, 0, 0, t.Location()))
	if w.From < w.To {
		return since >= w.From && since < w.To
	}
	return since >= w.From || since < w.To // wraps midnight
}
