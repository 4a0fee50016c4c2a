package metrics

import (
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Namespace prefixes every metric of mdcluster's own; node_exporter-compatible figures use
// "node".
const Namespace = "mdcluster"

// ErrNoData marks a collector that found nothing to report (no md driver, no DLM): the Set logs
// it at debug level and counts the scrape as a success.
var ErrNoData = errors.New("metrics: no data")

// updater is one collector: it sends its metrics for one scrape.
type updater interface {
	describe(ch chan<- *prometheus.Desc)
	update(ch chan<- prometheus.Metric) error
}

var (
	scrapeDurationDesc = prometheus.NewDesc(prometheus.BuildFQName(Namespace, "scrape", "collector_duration_seconds"),
		"How long a collector took to gather its figures for this scrape.", []string{"collector"}, nil)
	scrapeSuccessDesc = prometheus.NewDesc(prometheus.BuildFQName(Namespace, "scrape", "collector_success"),
		"Whether a collector gathered its figures without error (1) or failed (0).", []string{"collector"}, nil)
)

// Set is a prometheus.Collector that runs named collectors and reports each one's duration
// and success.
type Set struct {
	log   *slog.Logger
	names []string
	parts []updater
}

// NewSet returns an empty Set logging to log (nil: slog.Default()).
func NewSet(log *slog.Logger) *Set {
	if log == nil {
		log = slog.Default()
	}
	return &Set{log: log}
}

func (s *Set) add(name string, u updater) *Set {
	s.names = append(s.names, name)
	s.parts = append(s.parts, u)
	return s
}

// Describe sends the descriptors of every collector in the set.
func (s *Set) Describe(ch chan<- *prometheus.Desc) {
	ch <- scrapeDurationDesc
	ch <- scrapeSuccessDesc
	for _, p := range s.parts {
		p.describe(ch)
	}
}

// Collect runs every collector one after the other.
func (s *Set) Collect(ch chan<- prometheus.Metric) {
	for i, p := range s.parts {
		name := s.names[i]
		start := time.Now()
		err := p.update(ch)
		ok := 1.0
		switch {
		case errors.Is(err, ErrNoData):
			s.log.Debug("collector found nothing to report", "collector", name, "err", err)
		case err != nil:
			s.log.Error("collector failed", "collector", name, "err", err)
			ok = 0
		}
		ch <- prometheus.MustNewConstMetric(scrapeDurationDesc, prometheus.GaugeValue, time.Since(start).Seconds(), name)
		ch <- prometheus.MustNewConstMetric(scrapeSuccessDesc, prometheus.GaugeValue, ok, name)
	}
}

// gauge sends one gauge sample.
func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

// counter sends one counter sample.
func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

// boolf is 1 for true and 0 for false, for state series.
func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
