package metrics

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var clusterSlotDesc = mdDesc("cluster_local_slot",
	"Bitmap slot this node took when it joined the array's md-cluster (0-based, as the slot label of the bitmap figures), from the kernel log; absent once the log no longer holds the join message.")

// joinedPrefix starts md-cluster's join message: "md-cluster: Joined cluster <uuid> slot <n>",
// n the 1-based DLM slot (drivers/md/md-cluster.c, join()).
const joinedPrefix = "md-cluster: Joined cluster "

// slotLog finds this node's md-cluster slots in the kernel log and reuses them for ttl.
type slotLog struct {
	path string
	ttl  time.Duration
	now  func() time.Time

	mu    sync.Mutex
	at    time.Time
	slots map[string]int // array UUID → 0-based slot
	err   error
}

// get returns the slots by array UUID, reading the log again once the last read is older
// than ttl.
func (s *slotLog) get() (map[string]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.slots == nil && s.err == nil || s.now().Sub(s.at) >= s.ttl {
		s.at = s.now()
		s.slots, s.err = readSlots(s.path)
	}
	return s.slots, s.err
}

// parseSlots reads kernel log records ("prio,seq,usec,flags;message", as /dev/kmsg prints
// them) and returns the latest md-cluster join slot per array UUID, 0-based.
func parseSlots(r io.Reader) map[string]int {
	slots := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 8192), 64<<10)
	for sc.Scan() {
		_, msg, ok := strings.Cut(sc.Text(), ";")
		if !ok {
			continue // a continuation line (" KEY=value") or not a record
		}
		rest, ok := strings.CutPrefix(msg, joinedPrefix)
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 3 || f[1] != "slot" {
			continue
		}
		if n, err := strconv.Atoi(f[2]); err == nil && n >= 1 {
			slots[f[0]] = n - 1
		}
	}
	return slots
}

// sendSlot reports this node's slot in array dev when the kernel log names it.
func sendSlot(ch chan<- prometheus.Metric, slots map[string]int, dev, uuid string) {
	if n, ok := slots[uuid]; ok {
		gauge(ch, clusterSlotDesc, float64(n), dev)
	}
}
