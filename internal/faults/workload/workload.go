// Package workload is the fault campaign's program inside a guest. It writes numbered blocks
// with O_DIRECT to this node's region of every array it is told of, samples md every 100 ms, and
// forwards the agent's fencing-token log — all as lines on the guest's stream port, each written
// before the next step, so the host knows of every write md acknowledged before the guest can
// crash. SIGUSR1 pauses the writers (the host then reads the regions back), SIGUSR2 resumes them
// in the round named by the round file.
package workload

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"mdcluster.dev/internal/faults/wire"
)

// Target is one array the node writes to: its own region of it.
type Target struct {
	Tag    string // "r10", "r5"
	UUID   string // md's sysfs form
	Offset int64  // bytes: start of this node's region
	Blocks int    // region size in blocks
}

// Config is one workload process.
type Config struct {
	Node      int
	Epoch     int // the host's count of workload processes it started on this node
	Port      string
	Targets   []Target
	TokenLog  string        // the agent's fencing-token log, forwarded line by line
	RoundFile string        // holds the current round number (read at start and on SIGUSR2)
	Interval  time.Duration // pause between two writes of one writer
	Hold      bool          // keep each md device open between writes (as a file system would)
}

// Run runs the workload until ctx ends or SIGTERM.
func Run(ctx context.Context, c Config) error {
	out, err := openStream(c.Port)
	if err != nil {
		return err
	}
	defer out.close()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM)
	defer stop()
	w := &workload{c: c, out: out, md: newMDView()}
	w.cond = sync.NewCond(&w.mu)
	w.round = readRound(c.RoundFile)
	out.send(wire.Msg{Kind: wire.KindHello, Boot: bootID(), Epoch: c.Epoch, Round: w.round})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); w.sample(ctx) }()
	go func() { defer wg.Done(); w.forwardTokens(ctx) }()
	for _, t := range c.Targets {
		wg.Add(1)
		go func() { defer wg.Done(); w.write(ctx, t) }()
	}
	w.control(ctx)
	w.mu.Lock()
	w.cond.Broadcast()
	w.mu.Unlock()
	wg.Wait()
	return nil
}

type workload struct {
	c   Config
	out *stream
	md  *mdView

	mu     sync.Mutex
	cond   *sync.Cond
	paused bool
	busy   int // writers inside a write
	round  int
}

// control serves SIGUSR1 (pause) and SIGUSR2 (resume).
func (w *workload) control(ctx context.Context) {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sig)
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-sig:
			w.mu.Lock()
			if s == syscall.SIGUSR1 {
				w.paused = true
				for w.busy > 0 {
					w.cond.Wait()
				}
				w.mu.Unlock()
				w.out.send(wire.Msg{Kind: wire.KindPaused})
				continue
			}
			w.round = readRound(w.c.RoundFile)
			w.paused = false
			w.cond.Broadcast()
			r := w.round
			w.mu.Unlock()
			w.out.send(wire.Msg{Kind: wire.KindResume, Round: r})
		}
	}
}

// enter waits until writes may go on and marks a writer busy; it returns the round, or false
// once ctx ended.
func (w *workload) enter(ctx context.Context) (int, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.paused && ctx.Err() == nil {
		w.cond.Wait()
	}
	if ctx.Err() != nil {
		return 0, false
	}
	w.busy++
	return w.round, true
}

func (w *workload) leave() {
	w.mu.Lock()
	w.busy--
	w.cond.Broadcast()
	w.mu.Unlock()
}

func readRound(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

// FindPort returns the device of the virtio-serial port with this name.
func FindPort(name string) (string, error) {
	ents, err := os.ReadDir("/sys/class/virtio-ports")
	if err != nil {
		return "", fmt.Errorf("workload: %w", err)
	}
	for _, e := range ents {
		b, err := os.ReadFile("/sys/class/virtio-ports/" + e.Name() + "/name")
		if err == nil && strings.TrimSpace(string(b)) == name {
			return "/dev/" + e.Name(), nil
		}
	}
	return "", fmt.Errorf("workload: no virtio-serial port named %s", name)
}
