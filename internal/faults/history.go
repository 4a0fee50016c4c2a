package faults

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// history is one JSON-lines file of the campaign's records.
type history struct {
	mu sync.Mutex
	f  *os.File
	w  *bufio.Writer
}

func openHistory(dir, name string) (*history, error) {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("faults: history: %w", err)
	}
	return &history{f: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

// add appends one record.
func (h *history) add(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"encode_error": err.Error()})
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.w.Write(b)
	h.w.WriteByte('\n')
}

func (h *history) flush() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.w.Flush()
}

func (h *history) close() {
	h.flush()
	h.f.Close()
}

// histories are the campaign's files in the output directory.
type histories struct {
	writes, md, tokens, lock, faults, rounds, events *history
}

func openHistories(dir string) (*histories, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("faults: %w", err)
	}
	h := &histories{}
	for _, f := range []struct {
		p    **history
		name string
	}{{&h.writes, "writes.jsonl"}, {&h.md, "md.jsonl"}, {&h.tokens, "tokens.jsonl"}, {&h.lock, "lock.jsonl"},
		{&h.faults, "faults.jsonl"}, {&h.rounds, "rounds.jsonl"}, {&h.events, "events.jsonl"}} {
		var err error
		if *f.p, err = openHistory(dir, f.name); err != nil {
			return nil, err
		}
	}
	return h, nil
}

func (h *histories) all() []*history {
	return []*history{h.writes, h.md, h.tokens, h.lock, h.faults, h.rounds, h.events}
}

func (h *histories) flush() {
	for _, x := range h.all() {
		x.flush()
	}
}

func (h *histories) close() {
	for _, x := range h.all() {
		x.close()
	}
}
