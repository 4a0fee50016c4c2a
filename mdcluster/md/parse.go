package md

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// parseArray turns an array's attribute text into an Array. Every error names the array and the
// attribute and quotes the text.
func parseArray(r rawArray) (Array, error) {
	a := Array{Name: r.name, SyncMax: NoSyncMax}
	p := attrParser{array: r.name, attrs: r.attrs}
	if r.dev != "" {
		var err error
		if a.Major, a.Minor, err = parseDevNum(r.dev); err != nil {
			return Array{}, fmt.Errorf("md: %s: dev: %w", r.name, err)
		}
	}
	a.Level = p.str("level")
	a.State = ArrayState(p.str("array_state"))
	a.RaidDisks = int(p.first("raid_disks")) // "4 (3)" during a reshape: new (old)
	a.Degraded = int(p.uint("degraded"))
	a.SyncAction = SyncAction(p.str("sync_action"))
	a.LastSyncAction = SyncAction(p.str("last_sync_action"))
	a.SyncCompleted = p.progress("sync_completed")
	a.SyncMin = p.uint("sync_min")
	if v, ok := r.attrs["sync_max"]; ok && v != "max" {
		a.SyncMax = p.uint("sync_max")
	}
	if v, ok := r.attrs["sync_speed"]; ok && v != "none" {
		s := p.uint("sync_speed")
		a.SyncSpeed = &s
	}
	a.SyncSpeedMin = p.speedLimit("sync_speed_min")
	a.SyncSpeedMax = p.speedLimit("sync_speed_max")
	a.MismatchCount = p.uint("mismatch_cnt")
	a.SuspendLo = p.uint("suspend_lo")
	a.SuspendHi = p.uint("suspend_hi")
	if v, ok := r.attrs["uuid"]; ok && v != "" {
		u, err := ParseUUID(v)
		if err != nil && p.err == nil {
			p.err = fmt.Errorf("md: %s: uuid: %w", r.name, err)
		}
		a.UUID = u
	}
	a.MetadataVersion = p.str("metadata_version")
	a.ChunkSize = p.first("chunk_size") // "new (old)" during a reshape
	a.ComponentSize = p.uint("component_size")
	if loc := p.str("bitmap/location"); loc != "" && loc != "none" {
		b := &Bitmap{Location: loc, ChunkSize: p.uint("bitmap/chunksize"), Metadata: p.str("bitmap/metadata")}
		if loc != "file" {
			off, err := strconv.ParseInt(strings.TrimPrefix(loc, "+"), 10, 64)
			if err != nil && p.err == nil {
				p.err = fmt.Errorf("md: %s: bitmap/location: %w: %q", r.name, ErrParse, loc)
			}
			b.Offset = off
		}
		a.Bitmap = b
	}
	if p.err != nil {
		return Array{}, p.err
	}
	names := make([]string, 0, len(r.members))
	for n := range r.members {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		m, err := parseMember(r.name, n, r.members[n])
		if err != nil {
			return Array{}, err
		}
		a.Members = append(a.Members, m)
	}
	return a, nil
}

// parseMember parses one dev-<name> directory's attributes.
func parseMember(array, name string, attrs map[string]string) (Member, error) {
	m := Member{Name: name, Slot: -1}
	p := attrParser{array: array + ": member " + name, attrs: attrs}
	if st := p.str("state"); st != "" {
		for _, f := range strings.Split(st, ",") {
			m.State = append(m.State, MemberFlag(f))
		}
	}
	if v, ok := attrs["slot"]; ok && v != "none" {
		m.Slot = int(p.uint("slot"))
	}
	m.Errors = p.uint("errors")
	if v, ok := attrs["block/dev"]; ok {
		var err error
		if m.Major, m.Minor, err = parseDevNum(v); err != nil && p.err == nil {
			p.err = fmt.Errorf("md: %s: block/dev: %w", p.array, err)
		}
	}
	return m, p.err
}

// attrParser parses attributes and keeps the first error, so parseArray reads as a list.
type attrParser struct {
	array string
	attrs map[string]string
	err   error
}

func (p *attrParser) fail(attr, v string) {
	if p.err == nil {
		p.err = fmt.Errorf("md: %s: %s: %w: %q", p.array, attr, ErrParse, v)
	}
}

func (p *attrParser) str(attr string) string { return p.attrs[attr] }

// uint parses a decimal attribute; an absent attribute is 0.
func (p *attrParser) uint(attr string) uint64 {
	v, ok := p.attrs[attr]
	if !ok {
		return 0
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		p.fail(attr, v)
	}
	return n
}

// first parses the first number of "N" or "N (M)"; an inactive array prints raid_disks as "".
func (p *attrParser) first(attr string) uint64 {
	v, ok := p.attrs[attr]
	if !ok || v == "" {
		return 0
	}
	f := strings.Fields(v)
	if len(f) == 0 {
		p.fail(attr, v)
		return 0
	}
	n, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		p.fail(attr, v)
	}
	return n
}

// progress parses sync_completed: "none", "delayed" or "done / total".
func (p *attrParser) progress(attr string) *SyncProgress {
	v, ok := p.attrs[attr]
	switch {
	case !ok || v == "none":
		return nil
	case v == "delayed":
		return &SyncProgress{Delayed: true}
	}
	done, total, ok := strings.Cut(v, " / ")
	d, err1 := strconv.ParseUint(done, 10, 64)
	t, err2 := strconv.ParseUint(total, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		p.fail(attr, v)
		return nil
	}
	return &SyncProgress{Done: d, Total: t}
}

// speedLimit parses "1000 (system)" or "5000 (local)".
func (p *attrParser) speedLimit(attr string) SpeedLimit {
	v, ok := p.attrs[attr]
	if !ok {
		return SpeedLimit{}
	}
	num, scope, _ := strings.Cut(v, " ")
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || (scope != "(system)" && scope != "(local)") {
		p.fail(attr, v)
		return SpeedLimit{}
	}
	return SpeedLimit{KiBps: n, Local: scope == "(local)"}
}

// parseDevNum parses "major:minor".
func parseDevNum(s string) (uint32, uint32, error) {
	maj, min, ok := strings.Cut(s, ":")
	ma, err1 := strconv.ParseUint(maj, 10, 32)
	mi, err2 := strconv.ParseUint(min, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("%w: device number %q", ErrParse, s)
	}
	return uint32(ma), uint32(mi), nil
}
