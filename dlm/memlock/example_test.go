package memlock_test

import (
	"context"
	"errors"
	"fmt"

	"mdcluster.dev/dlm"
	"mdcluster.dev/dlm/memlock"
)

// Two nodes of one service; the lock service fails for a moment, then node A's session expires
// and node B is granted the lock A held.
func Example() {
	ctx := context.Background()
	svc := memlock.NewService()
	nodeA, nodeB := svc.Engine(), svc.Engine()
	a, _ := nodeA.Open(ctx)
	b, _ := nodeB.Open(ctx)
	defer b.Close()

	act, _ := a.Lock(ctx, "act/md0", dlm.EX)
	nodeA.FailCalls(1) // the next call of node A fails, as without quorum
	err := act.Unlock(ctx)
	fmt.Println("unlock:", errors.Is(err, dlm.ErrNoQuorum), "holders:", len(svc.Holders("act/md0")))

	got := make(chan dlm.Lock)
	go func() { l, _ := b.Lock(ctx, "act/md0", dlm.EX); got <- l }()
	a.Expire() // or a.StopRenewing(): Done closes TTL/5 before the service expires it
	<-a.Done()
	l := <-got
	fmt.Println("B holds it:", svc.Holders("act/md0")[0].Session == b.ID(), "token newer:", l.Token() > act.Token())
	// Output:
	// unlock: true holders: 1
	// B holds it: true token newer: true
}
