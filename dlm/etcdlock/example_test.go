package etcdlock

import (
	"context"
	"errors"
	"fmt"
	"time"

	"mdcluster.dev/dlm"
)

// An EX holder publishes a value block on unlock; the next grant reads it,
// and a fencing token is current only while its grant lasts.
func ExampleSession_Lock() {
	e := New(shared.cli[0], WithPrefix("/example"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := e.Open(ctx, dlm.WithTTL(5*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	l, err := s.Lock(ctx, "md0", dlm.EX)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(l.Mode(), s.CheckToken(ctx, "md0", l.Token()) == nil)
	old := l.Token()
	if err := l.Unlock(ctx, dlm.WithLVB([]byte("resync 0-1024"))); err != nil {
		fmt.Println(err)
		return
	}

	r, err := s.Lock(ctx, "md0", dlm.PR)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%v %q newer token: %v\n", r.Mode(), r.LVB(), r.Token() > old)
	fmt.Println("old token stale:", errors.Is(s.CheckToken(ctx, "md0", old), dlm.ErrStaleToken))
	// Output:
	// EX true
	// PR "resync 0-1024" newer token: true
	// old token stale: true
}
