package etcdlock

import (
	"slices"
	"strings"
	"testing"

	"mdcluster.dev/dlm"
)

// mkView builds a view from compact specs "id:q=<rev><mode>[,g=<mode>][,c=<rev><mode>]".
type spec struct {
	id   string
	qRev int64
	req  dlm.Mode
	g    bool
	gMod dlm.Mode
	c    bool
	cRev int64
	cMod dlm.Mode
}

func mkView(ss ...spec) *view {
	v := newView()
	for _, s := range ss {
		v.entries[s.id] = &entry{id: s.id, qRev: s.qRev, req: s.req, hasG: s.g, gMod: s.gMod, hasC: s.c, cRev: s.cRev, cMod: s.cMod}
	}
	return v
}

func grantedIDs(gs []grant) string {
	var ids []string
	for _, g := range gs {
		ids = append(ids, g.e.id+"="+g.mode.String())
	}
	slices.Sort(ids)
	return strings.Join(ids, " ")
}

func TestGrantPass(t *testing.T) {
	tests := []struct {
		name string
		v    *view
		want string
	}{
		{"empty waiter granted", mkView(spec{id: "a", qRev: 1, req: dlm.EX}), "a=EX"},
		{"EX blocks PR", mkView(spec{id: "a", qRev: 1, req: dlm.EX, g: true, gMod: dlm.EX}, spec{id: "b", qRev: 2, req: dlm.PR}), ""},
		{"two PR together after EX left", mkView(spec{id: "b", qRev: 2, req: dlm.PR}, spec{id: "c", qRev: 3, req: dlm.PR}, spec{id: "d", qRev: 4, req: dlm.EX}), "b=PR c=PR"},
		{"FIFO: PR behind a waiting EX waits", mkView(
			spec{id: "a", qRev: 1, req: dlm.PR, g: true, gMod: dlm.PR},
			spec{id: "b", qRev: 2, req: dlm.EX},
			spec{id: "c", qRev: 3, req: dlm.PR}), ""},
		{"NL passes everyone", mkView(
			spec{id: "a", qRev: 1, req: dlm.EX, g: true, gMod: dlm.EX},
			spec{id: "b", qRev: 2, req: dlm.EX},
			spec{id: "c", qRev: 3, req: dlm.NL}), "c=NL"},
		{"conversion before waiters", mkView(
			spec{id: "a", qRev: 1, req: dlm.NL, g: true, gMod: dlm.NL, c: true, cRev: 5, cMod: dlm.EX},
			spec{id: "b", qRev: 2, req: dlm.PR}), "a=EX"},
		{"pending conversion blocks an incompatible waiter", mkView(
			spec{id: "a", qRev: 1, req: dlm.PR, g: true, gMod: dlm.PR, c: true, cRev: 5, cMod: dlm.EX},
			spec{id: "x", qRev: 2, req: dlm.PR, g: true, gMod: dlm.PR},
			spec{id: "b", qRev: 3, req: dlm.CR}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := grantedIDs(tt.v.grantPass()); got != tt.want {
				t.Errorf("granted %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDeadlockVictim(t *testing.T) {
	v := mkView(
		spec{id: "a", qRev: 1, req: dlm.PR, g: true, gMod: dlm.PR, c: true, cRev: 10, cMod: dlm.EX},
		spec{id: "b", qRev: 2, req: dlm.PR, g: true, gMod: dlm.PR, c: true, cRev: 11, cMod: dlm.EX})
	if v.deadlockVictim("a") || !v.deadlockVictim("b") {
		t.Errorf("victims a=%v b=%v, want only the later conversion b", v.deadlockVictim("a"), v.deadlockVictim("b"))
	}
	// A converter blocked by a converter that is not blocked by it: no deadlock.
	v = mkView(
		spec{id: "c", qRev: 1, req: dlm.NL, g: true, gMod: dlm.NL, c: true, cRev: 11, cMod: dlm.EX},
		spec{id: "d", qRev: 2, req: dlm.PR, g: true, gMod: dlm.PR, c: true, cRev: 10, cMod: dlm.PW},
		spec{id: "e", qRev: 3, req: dlm.PR, g: true, gMod: dlm.PR})
	if v.deadlockVictim("c") || v.deadlockVictim("d") {
		t.Errorf("false deadlock: c=%v d=%v", v.deadlockVictim("c"), v.deadlockVictim("d"))
	}
}
