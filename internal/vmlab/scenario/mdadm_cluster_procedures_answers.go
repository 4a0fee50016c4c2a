package scenario

import (
	"context"
	"fmt"
	"time"
)

// confirmed runs f and checks that node2's agent confirmed exactly one new disk meanwhile (and
// node1's none: the initiator is not asked).
func (p *procedures) confirmed(ctx context.Context, what string, f func() error) error {
	return p.answered(ctx, what, true, f)
}

// answered runs f and checks that node2's agent answered exactly one new-disk request
// meanwhile, a confirmation (confirm) or a NACK, and node1's none: the initiator is not asked.
func (p *procedures) answered(ctx context.Context, what string, confirm bool, f func() error) error {
	count := func(a newDiskAnswers) map[int]int {
		if confirm {
			return a.confirmed
		}
		return a.nacked
	}
	before, err := confirmations(ctx, p.l)
	if err != nil {
		return err
	}
	if err := f(); err != nil {
		return err
	}
	// The answer's event is written to the log right after the ioctl returns: give it a moment.
	var after newDiskAnswers
	for i := 0; i < 20; i++ {
		if after, err = confirmations(ctx, p.l); err != nil {
			return err
		}
		if count(after)[2] > count(before)[2] {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	b, a := count(before), count(after)
	if d1, d2 := a[1]-b[1], a[2]-b[2]; d1 != 0 || d2 != 1 {
		return fmt.Errorf("%s: new-disk answers (confirmed %v) node1 %d, node2 %d; want 0 and 1", what, confirm, d1, d2)
	}
	return nil
}
