package fence

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

type fakeDog struct{ pets int }

func (d *fakeDog) Pet() error             { d.pets++; return nil }
func (d *fakeDog) Timeout() time.Duration { return 4 * time.Millisecond }

func TestFencerStopsPettingWhenSessionLost(t *testing.T) {
	d := &fakeDog{}
	checks, lost := 0, 0
	f := &Fencer{W: d, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Valid:  func() bool { checks++; return checks <= 5 },
		OnLost: func(context.Context) { lost++ }}
	if f.Run(context.Background()) {
		t.Fatal("Run reported a clean stop after the session was lost")
	}
	if d.pets != 5 || lost != 1 {
		t.Fatalf("pets = %d, OnLost calls = %d; want 5 pets (one per valid check) and 1 OnLost", d.pets, lost)
	}
}

func TestFencerCleanStop(t *testing.T) {
	d := &fakeDog{}
	ctx, cancel := context.WithCancel(context.Background())
	f := &Fencer{W: d, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Valid: func() bool {
			if d.pets == 3 {
				cancel()
			}
			return true
		},
		OnLost: func(context.Context) { t.Error("OnLost ran on a clean stop") }}
	if !f.Run(ctx) {
		t.Fatal("Run reported a lost session on a clean stop")
	}
}
