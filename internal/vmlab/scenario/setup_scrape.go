package scenario

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"mdcluster.dev/internal/vmlab"
)

// scrape is one look at the guest: sysfs and /proc/mdstat read just before and just after a
// scrape of the exporter, the scrape itself, and mdadm --examine-bitmap of the member the
// exporter reads the bitmap from.
type scrape struct {
	before, after map[string]string // sysfs attribute (relative to md0/md) → value
	metrics       map[string]*dto.MetricFamily
	examine       string
	sections      map[string]string // every "--- name" section of the script's output
}

func kv(s string) map[string]string {
	m := map[string]string{}
	for _, ln := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(ln, "="); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// takeScrapeOn runs a scrape script (sections "--- before", "--- metrics", "--- after",
// "--- examine" and any others) on node and parses its output.
func takeScrapeOn(ctx context.Context, l *vmlab.Lab, node int, what, script string) (*scrape, error) {
	out, err := step(ctx, l, node, quick, "scrape "+what, script)
	if err != nil {
		return nil, err
	}
	sec := map[string]string{}
	var cur string
	for _, ln := range strings.SplitAfter(out, "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(ln), "--- "); ok {
			cur = name
			continue
		}
		sec[cur] += ln
	}
	s := &scrape{before: kv(sec["before"]), after: kv(sec["after"]), examine: sec["examine"], sections: sec}
	p := expfmt.NewTextParser(model.UTF8Validation)
	if s.metrics, err = p.TextToMetricFamilies(strings.NewReader(sec["metrics"])); err != nil {
		return nil, fmt.Errorf("scrape %s: %w", what, err)
	}
	return s, nil
}

// value returns the sample of family name whose labels include every pair in labels.
func (s *scrape) value(name string, labels ...string) (float64, error) {
	mf, ok := s.metrics[name]
	if !ok {
		return 0, fmt.Errorf("scrape has no %s", name)
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue(), nil
		}
		return m.GetGauge().GetValue(), nil
	}
	return 0, fmt.Errorf("scrape has no %s%v", name, labels)
}

// expectValue compares a sample with want.
func (s *scrape) expectValue(want float64, name string, labels ...string) error {
	v, err := s.value(name, labels...)
	if err != nil {
		return err
	}
	if v != want {
		return fmt.Errorf("%s%v = %g, want %g (kernel)", name, labels, v, want)
	}
	return nil
}

// expectAbsent fails if the scrape has a sample of name with the labels.
func (s *scrape) expectAbsent(name string, labels ...string) error {
	if v, err := s.value(name, labels...); err == nil {
		return fmt.Errorf("%s%v = %g, want none", name, labels, v)
	}
	return nil
}

// sampleCheck is one sample a scrape must show: family name, labels it must carry, value.
type sampleCheck struct {
	want   float64
	name   string
	labels []string
}

// expectAll compares every check with the scrape, stopping at the first difference.
func (s *scrape) expectAll(checks []sampleCheck) error {
	for _, c := range checks {
		if err := s.expectValue(c.want, c.name, c.labels...); err != nil {
			return err
		}
	}
	return nil
}

// same requires a sysfs attribute to read the same before and after the scrape and returns it.
func (s *scrape) same(attr string) (string, error) {
	if s.before[attr] != s.after[attr] {
		return "", fmt.Errorf("%s changed during the scrape (%q, %q): scrape again", attr, s.before[attr], s.after[attr])
	}
	return s.before[attr], nil
}

// stable requires every attribute to read the same before and after the scrape.
func (s *scrape) stable(attrs ...string) error {
	for _, a := range attrs {
		if _, err := s.same(a); err != nil {
			return err
		}
	}
	return nil
}

// progress parses sync_completed "done / total" as a ratio.
func progress(v string) (float64, bool) {
	d, t, ok := strings.Cut(v, " / ")
	done, err1 := strconv.ParseFloat(d, 64)
	total, err2 := strconv.ParseFloat(t, 64)
	if !ok || err1 != nil || err2 != nil || total == 0 {
		return 0, false
	}
	return done / total, true
}
