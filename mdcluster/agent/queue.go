package agent

import (
	"context"
	"sync"
	"time"
)

// queue is the reconcile work queue, in controller-runtime's shape: a key (an array UUID) is
// reconciled by at most one worker at a time; a key added while it is being reconciled is
// reconciled again once that pass ends; keys can be added after a delay. It also numbers the
// passes, so that an API request can wait for a pass that started after it asked.
type queue struct {
	mu         sync.Mutex
	cond       *sync.Cond
	order      []string        // keys waiting, in order
	dirty      map[string]bool // keys waiting (or to requeue once done)
	processing map[string]uint64
	done       map[string]uint64 // per key: start number of the last finished pass
	failures   map[string]int
	seq        uint64
	shutdown   bool
	passDone   chan struct{} // closed and replaced whenever a pass ends
	timers     map[*time.Timer]bool
}

func newQueue() *queue {
	q := &queue{dirty: map[string]bool{}, processing: map[string]uint64{}, done: map[string]uint64{},
		failures: map[string]int{}, passDone: make(chan struct{}), timers: map[*time.Timer]bool{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// add asks for a pass over key and returns a ticket: a pass of key whose start number is at
// least the ticket started after this call.
func (q *queue) add(key string) uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seq++
	ticket := q.seq
	if q.shutdown || q.dirty[key] {
		return ticket
	}
	q.dirty[key] = true
	if _, busy := q.processing[key]; !busy {
		q.order = append(q.order, key)
		q.cond.Signal()
	}
	return ticket
}

// addAfter adds key once d has passed.
func (q *queue) addAfter(key string, d time.Duration) {
	if d <= 0 {
		q.add(key)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		q.mu.Lock()
		delete(q.timers, t)
		q.mu.Unlock()
		q.add(key)
	})
	q.timers[t] = true
}

// backoff returns the delay before retrying key after its n-th failure in a row: 0.5 s
// doubling to 8 s, so a lock service that is down is not hammered and recovers within 8 s.
func (q *queue) backoff(key string) time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.failures[key]++
	d := 500 * time.Millisecond << min(q.failures[key]-1, 4)
	return d
}

func (q *queue) forget(key string) {
	q.mu.Lock()
	delete(q.failures, key)
	q.mu.Unlock()
}

// get blocks until a key is ready or the queue is shut down; it returns the key and the
// pass's start number.
func (q *queue) get() (string, uint64, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.order) == 0 && !q.shutdown {
		q.cond.Wait()
	}
	if q.shutdown {
		return "", 0, false
	}
	key := q.order[0]
	q.order = q.order[1:]
	delete(q.dirty, key)
	q.seq++
	q.processing[key] = q.seq
	return key, q.seq, true
}

// finish ends the pass over key; a key added meanwhile is queued again.
func (q *queue) finish(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.done[key] = q.processing[key]
	delete(q.processing, key)
	if q.dirty[key] && !q.shutdown {
		q.order = append(q.order, key)
		q.cond.Signal()
	}
	close(q.passDone)
	q.passDone = make(chan struct{})
}

// wait blocks until a pass over key that started at or after ticket has finished, or ctx ends.
func (q *queue) wait(ctx context.Context, key string, ticket uint64) error {
	for {
		q.mu.Lock()
		if q.done[key] >= ticket {
			q.mu.Unlock()
			return nil
		}
		if q.shutdown {
			q.mu.Unlock()
			return errShuttingDown
		}
		ch := q.passDone
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// stop shuts the queue down: get returns false, waiters return, timers stop.
func (q *queue) stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shutdown = true
	for t := range q.timers {
		t.Stop()
	}
	q.timers = map[*time.Timer]bool{}
	q.cond.Broadcast()
	close(q.passDone)
	q.passDone = make(chan struct{})
}
