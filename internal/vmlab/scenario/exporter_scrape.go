package scenario

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// ExporterOptions is the lab ExporterScrape needs: one guest with two small disks, so a
// speed-limited resync runs for about a minute (1 MiB bitmap chunks: 63 of them).
var ExporterOptions = vmlab.Options{Nodes: 1, Disks: 2, DiskSize: 64 << 20}

// scrapeScript prints sysfs, the scrape and sysfs again between markers.
const scrapeScript = `S=/sys/block/md0/md
attrs() { for a in sync_action sync_completed degraded array_state raid_disks component_size dev-vda/state dev-vdb/state; do
  printf '%s=%s\n' "$a" "$(cat $S/$a 2>/dev/null)"; done; }
echo '--- before'; attrs
echo '--- metrics'; wget -q -O - http://127.0.0.1:9810/metrics || exit 1
echo '--- after'; attrs
echo '--- examine'; sync; echo 3 > /proc/sys/vm/drop_caches; mdadm --examine-bitmap /dev/vda 2>&1 | grep -E 'Events|Bitmap :'; true`

func takeScrape(ctx context.Context, l *vmlab.Lab, what string) (*scrape, error) {
	return takeScrapeOn(ctx, l, 1, what, scrapeScript)
}

// ExporterScrape runs `mdclusterd exporter` in a guest and compares what a scrape shows with
// what the kernel reports at the same moment: during a speed-limited resync of a RAID1 with an
// internal bitmap (sync action, progress bracketed by sync_completed read just before and just
// after the scrape, node_md_* state and blocks), then after a member failure and a degraded
// write (degraded, failed disks, the member's faulty flag, and the bitmap's events and dirty
// chunks against mdadm --examine-bitmap of the same member).
func ExporterScrape(ctx context.Context, l *vmlab.Lab) error {
	if _, err := step(ctx, l, 1, slow, "RAID1 with internal bitmap, resync limited to 1 MiB/s", `
echo 1000 > /proc/sys/dev/raid/speed_limit_min && echo 1000 > /proc/sys/dev/raid/speed_limit_max &&
mdadm --create /dev/md0 --run --level=1 --raid-devices=2 --bitmap=internal --bitmap-chunk=1M --metadata=1.2 /dev/vda /dev/vdb 2>&1`); err != nil {
		return err
	}
	// Wait for the resync to be under way, so the progress compared below is not just 0.
	if _, err := step(ctx, l, 1, quick, "wait for the resync to pass 2 MiB", `
S=/sys/block/md0/md
for i in $(seq 1 200); do
  set -- $(cat $S/sync_completed); [ "$1" != none ] && [ "$1" -gt 4096 ] && exit 0; sleep 0.1
done; cat $S/sync_action $S/sync_completed; exit 1`); err != nil {
		return err
	}
	if _, err := step(ctx, l, 1, quick, "start mdclusterd exporter", `
(setsid mdclusterd exporter --listen 127.0.0.1:9810 --sysfs /sys --procfs /proc --dev /dev --bitmap.ttl 1ms --log-level debug \
  </dev/null >/tmp/exporter.log 2>&1 &) ; 
for i in $(seq 1 100); do wget -q -O /dev/null http://127.0.0.1:9810/metrics && exit 0; sleep 0.2; done
cat /tmp/exporter.log; exit 1`); err != nil {
		return err
	}
	if err := scrapeDuringResync(ctx, l); err != nil {
		return err
	}
	if _, err := step(ctx, l, 1, quick, "fail vdb during the resync, write while degraded", `
S=/sys/block/md0/md
echo faulty > $S/dev-vdb/state && mdlab odwrite /dev/md0 $((16<<20)) written-while-degraded &&
i=0; while [ "$(cat $S/sync_action)" != idle ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; cat $S/sync_action
sleep 12  # two bitmap daemon periods: the dirty bits reach the disk`); err != nil {
		return err
	}
	if err := scrapeAfterFailure(ctx, l); err != nil {
		return err
	}
	if err := scrapeAfterChurn(ctx, l); err != nil {
		return err
	}
	_, err := step(ctx, l, 1, quick, "stop md0 and restore the speed limits",
		"mdadm --stop /dev/md0 2>&1; echo 200000 > /proc/sys/dev/raid/speed_limit_max; echo 1000 > /proc/sys/dev/raid/speed_limit_min")
	return err
}

func scrapeDuringResync(ctx context.Context, l *vmlab.Lab) error {
	var s *scrape
	var err error
	for range 5 { // sync_action must not change between the two sysfs reads
		if s, err = takeScrape(ctx, l, "during the resync"); err != nil {
			return err
		}
		if a, err := s.same("sync_action"); err == nil && a == "resync" {
			break
		}
		s = nil
		time.Sleep(time.Second)
	}
	if s == nil {
		return fmt.Errorf("no scrape caught md0 resyncing")
	}
	lo, ok1 := progress(s.before["sync_completed"])
	hi, ok2 := progress(s.after["sync_completed"])
	if !ok1 || !ok2 || lo == 0 {
		return fmt.Errorf("sync_completed %q, %q: not a running sync", s.before["sync_completed"], s.after["sync_completed"])
	}
	got, err := s.value("mdcluster_md_sync_completed_ratio", "device", "md0")
	if err != nil {
		return err
	}
	if got < lo || got > hi {
		return fmt.Errorf("mdcluster_md_sync_completed_ratio %g outside the kernel's [%g, %g]", got, lo, hi)
	}
	l.Logf("during resync: exporter says %.4f done, kernel %.4f…%.4f", got, lo, hi)
	checks := []sampleCheck{
		{1, "mdcluster_md_sync_action", []string{"device", "md0", "action", "resync"}},
		{0, "mdcluster_md_sync_action", []string{"device", "md0", "action", "idle"}},
		{1, "node_md_state", []string{"device", "md0", "state", "resync"}},
		{0, "node_md_state", []string{"device", "md0", "state", "active"}},
		{2, "node_md_disks", []string{"device", "md0", "state", "active"}},
		{2, "node_md_raid_disks", []string{"device", "md0"}},
		{0, "node_md_degraded", []string{"device", "md0"}},
		{1, "mdcluster_md_bitmap_read_success", []string{"device", "md0", "member", "vda"}},
		{1, "mdcluster_scrape_collector_success", []string{"collector", "md"}},
	}
	if err := s.expectAll(checks); err != nil {
		return err
	}
	// A RAID1 is as large as each member's used space (KiB, the unit of mdstat's blocks).
	size, err := strconv.ParseFloat(s.before["component_size"], 64)
	if err != nil {
		return fmt.Errorf("component_size %q: %w", s.before["component_size"], err)
	}
	return s.expectValue(size, "node_md_blocks", "device", "md0")
}

func scrapeAfterFailure(ctx context.Context, l *vmlab.Lab) error {
	s, err := takeScrape(ctx, l, "after vdb failed")
	if err != nil {
		return err
	}
	for _, a := range []string{"sync_action", "degraded", "dev-vdb/state"} {
		if _, err := s.same(a); err != nil {
			return err
		}
	}
	deg, err := strconv.ParseFloat(s.before["degraded"], 64)
	if err != nil {
		return fmt.Errorf("degraded %q: %w", s.before["degraded"], err)
	}
	examined, err := readExamineBitmap(s.examine)
	if err != nil {
		return err
	}
	bm := examined.only()
	events, chunks, dirty := bm.events, bm.chunks, bm.dirty
	if dirty == 0 {
		return fmt.Errorf("mdadm shows no dirty chunk after a degraded write:\n%s", s.examine)
	}
	l.Logf("after failure: kernel degraded=%s vdb=%q, mdadm -X events %g, %g of %g chunks dirty",
		s.before["degraded"], s.before["dev-vdb/state"], events, dirty, chunks)
	faulty := 0.0
	if strings.Contains(s.before["dev-vdb/state"], "faulty") {
		faulty = 1
	}
	checks := []sampleCheck{
		{deg, "node_md_degraded", []string{"device", "md0"}},
		{deg, "mdcluster_md_degraded", []string{"device", "md0"}},
		{1, "node_md_disks", []string{"device", "md0", "state", "failed"}},
		{1, "node_md_disks", []string{"device", "md0", "state", "active"}},
		{faulty, "mdcluster_md_member_state", []string{"device", "md0", "member", "vdb", "state", "faulty"}},
		{boolNum(s.before["sync_action"] == "idle"), "mdcluster_md_sync_action", []string{"device", "md0", "action", "idle"}},
		{chunks, "mdcluster_md_bitmap_slot_chunks", []string{"device", "md0", "slot", "0"}},
		{dirty, "mdcluster_md_bitmap_slot_dirty_chunks", []string{"device", "md0", "slot", "0"}},
		{events, "mdcluster_md_bitmap_slot_events", []string{"device", "md0", "slot", "0"}},
	}
	if err := s.expectAll(checks); err != nil {
		return err
	}
	return nil
}

func boolNum(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// churnUUID is the array ExporterScrape re-creates under the same name.
const churnUUID = "c4a2e000:00000000:00000000:00000001"

// scrapeAfterChurn changes md under the running exporter, which keeps sysfs files open between
// scrapes: the failed member leaves (no figure may name it), comes back and is recovered, then
// md0 is stopped and created anew with another UUID, size and no bitmap. Every scrape must show
// the kernel's state of that moment.
func scrapeAfterChurn(ctx context.Context, l *vmlab.Lab) error {
	if _, err := step(ctx, l, 1, quick, "remove the failed vdb", "mdadm /dev/md0 --remove /dev/vdb 2>&1"); err != nil {
		return err
	}
	s, err := takeScrape(ctx, l, "after vdb left")
	if err != nil {
		return err
	}
	for _, m := range s.metrics["mdcluster_md_member_state"].GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "member" && lp.GetValue() == "vdb" {
				return fmt.Errorf("the scrape still shows removed member vdb: %v", m)
			}
		}
	}
	if err := s.expectValue(0, "node_md_disks", "device", "md0", "state", "failed"); err != nil {
		return err
	}
	if _, err := step(ctx, l, 1, slow, "add vdb back and wait for its recovery", `echo 200000 > /proc/sys/dev/raid/speed_limit_max
mdadm /dev/md0 --re-add /dev/vdb 2>&1 || mdadm /dev/md0 --add /dev/vdb 2>&1 || exit 1
S=/sys/block/md0/md; i=0
while [ $i -lt 600 ]; do [ "$(cat $S/sync_action)" = idle ] && [ "$(cat $S/degraded)" = 0 ] && exit 0; sleep 0.2; i=$((i+1)); done
cat $S/sync_action $S/degraded; exit 1`); err != nil {
		return err
	}
	if s, err = takeScrape(ctx, l, "after vdb came back"); err != nil {
		return err
	}
	if err := s.stable("dev-vdb/state", "degraded"); err != nil {
		return err
	}
	inSync := boolNum(strings.Contains(s.before["dev-vdb/state"], "in_sync"))
	if err := s.expectAll([]sampleCheck{
		{inSync, "mdcluster_md_member_state", []string{"device", "md0", "member", "vdb", "state", "in_sync"}},
		{0, "node_md_degraded", []string{"device", "md0"}},
		{2, "node_md_disks", []string{"device", "md0", "state", "active"}},
	}); err != nil {
		return err
	}
	if _, err := step(ctx, l, 1, slow, "stop md0 and create it anew: another UUID, 32 MiB, no bitmap",
		"mdadm --stop /dev/md0 2>&1 && mdadm --create /dev/md0 --run --level=1 --raid-devices=2 --bitmap=none --assume-clean "+
			"--size=32768 --metadata=1.2 --uuid="+churnUUID+" /dev/vda /dev/vdb 2>&1"); err != nil {
		return err
	}
	if s, err = takeScrape(ctx, l, "after md0 was re-created"); err != nil {
		return err
	}
	size, err := strconv.ParseFloat(s.before["component_size"], 64)
	if err != nil {
		return fmt.Errorf("component_size %q: %w", s.before["component_size"], err)
	}
	if size != 32768 {
		return fmt.Errorf("the kernel says component_size %g, want 32768", size)
	}
	if err := s.expectValue(size, "node_md_blocks", "device", "md0"); err != nil {
		return err
	}
	if err := s.expectValue(1, "mdcluster_md_info", "device", "md0", "uuid", "c4a2e000-0000-0000-0000-000000000001"); err != nil {
		return err
	}
	if _, ok := s.metrics["mdcluster_md_bitmap_slot_dirty_chunks"]; ok {
		return fmt.Errorf("the scrape shows bitmap figures for md0, re-created without a bitmap")
	}
	l.Logf("after churn: removed member gone, re-added member %v in sync, re-created md0 (%g KiB, new UUID) seen", inSync == 1, size)
	return nil
}
