package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

const dashboardPath = "../scripts/grafana/mdcluster.json"

// exportedNames lists every metric name the collectors can export, from their descriptors.
func exportedNames() []string {
	set := NewSet(nil).AddMD(MDOptions{NodeCompat: true}).AddDLM(DLMOptions{}).AddAgent(nil)
	ch := make(chan *Desc, 500)
	go func() { set.Describe(ch); close(ch) }()
	var names []string
	for d := range ch {
		names = append(names, descName(d))
	}
	return names
}

// queries walks the dashboard JSON and returns every PromQL expression: targets' expr and
// template variables' query/definition.
func queries(v any, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && (k == "expr" || k == "definition") {
				*out = append(*out, s)
			}
			queries(e, out)
		}
	case []any:
		for _, e := range x {
			queries(e, out)
		}
	}
}

var (
	promqlStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promqlBraces   = regexp.MustCompile(`\{[^{}]*\}|\[[^\[\]]*\]`)
	promqlGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	promqlIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*\s*\(?`)
	promqlKeywords = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or", "unless"}
)

// metricNames returns the metric names a PromQL expression (or Grafana's label_values(m, l))
// refers to: identifiers left after removing strings, label matchers, ranges, grouping
// clauses, function calls and keywords.
func metricNames(expr string) []string {
	if rest, ok := strings.CutPrefix(strings.TrimSpace(expr), "label_values("); ok {
		m, _, _ := strings.Cut(rest, ",")
		return []string{strings.TrimSpace(m)}
	}
	s := promqlStrings.ReplaceAllString(expr, `""`)
	for prev := ""; prev != s; {
		prev, s = s, promqlBraces.ReplaceAllString(s, " ")
	}
	s = promqlGrouping.ReplaceAllString(s, " ")
	var names []string
	for _, tok := range promqlIdent.FindAllString(s, -1) {
		if strings.HasSuffix(tok, "(") {
			continue // a function or aggregation
		}
		if tok = strings.TrimSpace(tok); !slices.Contains(promqlKeywords, tok) {
			names = append(names, tok)
		}
	}
	return names
}

func TestMetricNames(t *testing.T) {
	t.Parallel()
	for expr, want := range map[string]string{
		`sum by (instance, action) (rate(mdcluster_reconcile_actions_total{instance=~"$instance"}[$__rate_interval]))`: "mdcluster_reconcile_actions_total",
		`count(a_b{x="y{z}"} > 0) or vector(0)`:                     "a_b",
		`a / on (device) group_left (uuid) b{state="in_sync"} == 0`: "a b",
		`label_values(mdcluster_md_info, instance)`:                 "mdcluster_md_info",
	} {
		if got := strings.Join(metricNames(expr), " "); got != want {
			t.Errorf("metricNames(%q) = %q, want %q", expr, got, want)
		}
	}
}

// TestDashboardMetrics: every metric name in every PromQL expression of the Grafana dashboard
// is one the exporter exports, so the dashboard cannot silently show "No data" after a rename.
func TestDashboardMetrics(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	var exprs []string
	queries(dash, &exprs)
	exported := exportedNames()
	used := map[string]bool{}
	for _, e := range exprs {
		names := metricNames(e)
		if len(names) == 0 {
			t.Errorf("expression refers to no metric: %s", e)
		}
		for _, n := range names {
			used[n] = true
			if !slices.Contains(exported, n) {
				t.Errorf("dashboard uses %s, which the exporter does not export (in %s)", n, e)
			}
		}
	}
	if len(exprs) < 10 {
		t.Fatalf("found only %d expressions in %s", len(exprs), dashboardPath)
	}
	var list []string
	for n := range used {
		list = append(list, n)
	}
	sort.Strings(list)
	t.Logf("%d expressions use %d metrics: %s", len(exprs), len(list), strings.Join(list, " "))
}
