package faults

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// hostNice is the niceness the campaign's process runs at. The host etcd (the agents' lock
// service) and the campaign's observers run in it; three TCG guests saturate the host, and a
// starved etcd takes seconds to restart or answer a renewal. A real lock service runs on its own
// servers: giving it the host's CPU first keeps the campaign about the cluster, not the emulator.
const hostNice = -10

// raisePriority sets every thread of this process to hostNice (Linux nice values are per thread;
// threads the runtime starts later inherit it from the thread that starts them). It returns what
// it did, for the report.
func raisePriority() string {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return "unchanged: " + err.Error()
	}
	n := 0
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, hostNice); err != nil {
			return fmt.Sprintf("unchanged (%d of %d threads set): %v", n, len(tasks), err)
		}
		n++
	}
	return fmt.Sprintf("nice %d", hostNice)
}
