/*
 * activation.pml: exclusive activation of one array by three nodes (design.md, "Exclusive
 * arrays"; mdcluster/agent activation.go). The activation lease act/<uuid> is a lock bound to
 * the holder's session lease (the one the watchdog follows); waiters queue for it and are
 * granted when the holder releases it or its lease expires. Only the holder assembles the
 * array, after re-checking its fencing token. See node.pml for the session, the watchdog, the
 * process and the faults, README.md for the abstractions.
 *
 * Properties:
 *   excl     [] at most one node has the array assembled (and so writable)
 *   live     [] (the node holding act is down -> <> some node has the array assembled),
 *            checked with -DLIVE (faults end once the budget is spent) and weak fairness
 *   resetm   [] a node running the array is reset at least M before its D (D - now >= M):
 *            the reset lands at least M before the lease can expire (up to DRIFT, etcd's clock)
 *   safe     excl and resetm
 *
 * Mutants (each must be refuted by a counter-example):
 *   MUT_NO_MARGIN      the guard pets against D instead of F (node.pml)
 *   MUT_NO_RECORD      the guard pets with no deadline until the lock engine is up (node.pml)
 *   MUT_TWO_TIMEOUTS   F = D - M - 2T (node.pml)
 *   MUT_ONE_TIMEOUT    F = D - M - T (node.pml)
 *   MUT_RESTART_OPEN   a restarted agent opens the watchdog before it checks F (node.pml)
 *   MUT_RELEASE_FIRST  a clean stop releases the activation lease, then stops the array
 *   MUT_OWN_LEASE      act is taken under a second lease (a control plane's own session)
 *                      that the watchdog does not follow
 */

#define PROT(n) (mdup[n])

#ifdef MUT_OWN_LEASE
/* The lock is taken under lease OWN(n) = NL + n, kept alive by its own keepAlive that the
 * watchdog does not follow; one fault stalls that keepAlive (the other session's renewals, on
 * their own connection or goroutine, go on). */
#define NLX (NL + N)
#define OWN(n) (NL + n)
#define LOCKLEASE(n) OWN(n)
#else
#define NLX NL
#define LOCKLEASE(n) slot[n]
#endif

#include "node.pml"

byte act = NOL;         /* the lease holding act/<uuid> */
bool waiting[NLX];      /* leases with a queued request on act/<uuid> */
bool mdup[N];            /* md: the array is assembled, so writable, on node n */
bool holder[N];         /* the process knows it holds act (granted, or adopted after a restart) */
bool checked[N];        /* the fencing token was re-checked; mdadm --assemble is next */
#ifdef MUT_OWN_LEASE
bool ownstall[N];       /* the second lease's keepAlive stalled */
#endif

/* The lock service grants act to one waiter, in any order (FIFO is one of them). */
inline grantnext() {
	if
	:: act == NOL ->
		if
		:: waiting[0] -> act = 0
		:: waiting[1] -> act = 1
		:: waiting[2] -> act = 2
		:: waiting[3] -> act = 3
		:: waiting[4] -> act = 4
		:: waiting[5] -> act = 5
#ifdef MUT_OWN_LEASE
		:: waiting[6] -> act = 6
		:: waiting[7] -> act = 7
		:: waiting[8] -> act = 8
#endif
		:: else
		fi;
		if
		:: act != NOL -> waiting[act] = 0; printf("t=%d act granted to lease %d\n", tnow, act)
		:: else
		fi
	:: else
	fi
}

inline lease_gone(l) {
	waiting[l] = 0;
	if
	:: act == l -> act = NOL; grantnext()
	:: else
	fi
}

/* mdadm --stop: it fails with EBUSY while the array is open or mounted. */
inline stopmd(n) {
	if
	:: mdup[n] = 0; printf("t=%d node %d: array stopped\n", tnow, n)
	:: printf("t=%d node %d: array stop fails (EBUSY)\n", tnow, n)
	fi
}

/* Release act (giveBack: only the lease a pass holds) and cancel a queued request: etcd calls,
 * not while partitioned (the lease then stays with the session). */
inline release(n) {
	if
	:: !part[n] ->
		waiting[LOCKLEASE(n)] = 0;
		if
		:: holder[n] && act == LOCKLEASE(n) -> printf("t=%d node %d: releases act\n", tnow, n); act = NOL; grantnext()
		:: else
		fi;
		holder[n] = 0;
		checked[n] = 0
	:: else
	fi
}

/* The session-lost stop (sessionLost: its passes' contexts end; it waits up to T/2 for an
 * mdadm in flight, then stops every exclusive array md shows running here). A pass that had
 * checked its token may have had mdadm assemble the array by then, or not. */
inline onlost_stop(n) {
	if
	:: checked[n] -> checked[n] = 0; mdup[n] = 1; printf("t=%d node %d: the mdadm in flight assembled the array\n", tnow, n)
	:: checked[n] -> checked[n] = 0
	:: else
	fi;
	if
	:: mdup[n] -> stopmd(n)
	:: else
	fi
}

inline adopt(n) {
	holder[n] = (act == LOCKLEASE(n))
}

inline forget(n) {
	holder[n] = 0;
	checked[n] = 0
}

inline kernel_reset(n) {
	mdup[n] = 0
}

/* Clean stop, first step (shutdown): stop the exclusive array, then release the activation
 * lease if it stopped (an array that cannot be stopped keeps its lease). */
inline cleanstop1(n) {
#ifdef MUT_RELEASE_FIRST
	release(n);
	stopmd(n)
#else
	if
	:: mdup[n] -> stopmd(n)
	:: else
	fi;
	if
	:: !mdup[n] -> release(n)
	:: else
	fi
#endif
}

/* One step of the agent's passes (activation.go). */
inline reconcile(n) {
	if
	:: mdup[n] && !holder[n] && !checked[n] && !part[n] ->     /* running here, no lease known: TryLock */
		if
		:: act == NOL || act == LOCKLEASE(n) -> act = LOCKLEASE(n); holder[n] = 1   /* granted, or our own: adopted */
		:: else -> stopmd(n)                                  /* held elsewhere: stopUnleased */
		fi
	:: checked[n] -> mdup[n] = 1; checked[n] = 0; printf("t=%d node %d: ASSEMBLES the array\n", tnow, n)
	:: !checked[n] && holder[n] && !part[n] ->                 /* the fencing token (checkToken) */
		if
		:: act == LOCKLEASE(n) && !mdup[n] -> checked[n] = 1; printf("t=%d node %d: fencing token checked\n", tnow, n)
		:: act == LOCKLEASE(n) && mdup[n] -> skip
		:: act != LOCKLEASE(n) -> holder[n] = 0                /* ErrStaleToken */
		fi
	:: !mdup[n] && !holder[n] && !part[n] && act == LOCKLEASE(n) -> holder[n] = 1   /* granted */
	:: !mdup[n] && !holder[n] && !part[n] && act != LOCKLEASE(n) && !waiting[LOCKLEASE(n)] && alive[LOCKLEASE(n)] ->
		waiting[LOCKLEASE(n)] = 1; grantnext()                /* TryLock, then queue for the lease */
	:: else -> skip
	fi
}

/* A lease that is no node's recorded session and holds and waits for nothing has no effect
 * left on anything; it is dropped at once rather than left to run out (fewer states). */
inline unowned(l) {
	if
	:: alive[l] && !(sfile[l / 2] && slot[l / 2] == l) && act != l && !waiting[l] ->
		alive[l] = 0;
		erem[l] = 0
	:: else
	fi
}

#ifdef MUT_OWN_LEASE
/* The second lease's keepAlive: renewed every tick it runs (at least as often as etcdlock
 * does), regranted when lost, and stalled for good by one fault. */
inline ownlease(n) {
	if
	:: pc[n] == RUN && !paused[n] && !part[n] && !ownstall[n] ->
		if
		:: alive[OWN(n)] -> renew(OWN(n))
		:: else -> alive[OWN(n)] = 1; renew(OWN(n))
		fi
	:: else
	fi
}
inline model_tick() {
	unowned(0); unowned(1); unowned(2); unowned(3); unowned(4); unowned(5);
	ticklease(6); ticklease(7); ticklease(8);
	ownlease(0); ownlease(1); ownlease(2);
	if
	:: budget > 0 && !ownstall[0] -> budget--; ownstall[0] = 1; printf("t=%d node 0: the second lease's keepAlive stalls\n", tnow)
	:: budget > 0 && !ownstall[1] -> budget--; ownstall[1] = 1; printf("t=%d node 1: the second lease's keepAlive stalls\n", tnow)
	:: budget > 0 && !ownstall[2] -> budget--; ownstall[2] = 1; printf("t=%d node 2: the second lease's keepAlive stalls\n", tnow)
	:: skip
	fi
}
#else
inline model_tick() {
	unowned(0); unowned(1); unowned(2); unowned(3); unowned(4); unowned(5)
}
#endif

#define NASM (mdup[0] + mdup[1] + mdup[2])
#define HOLDER_DOWN (act != NOL && pc[(act / 2) * (act < NL) + (act - NL) * (act >= NL)] == DOWN)
#define TAKEN (mdup[0] || mdup[1] || mdup[2])

ltl excl { [] (NASM <= 1) }
ltl live { [] (HOLDER_DOWN -> <> TAKEN) }

/* How late a node running the array is reset, against its session's D (the node's monotonic
 * clock; the lock service cannot expire the lease more than DRIFT before it): LATE(n, x) is
 * node n running the array with D - now < x, or with no session record at all. */
#define LATE(n, x) (mdup[n] && (!sfile[n] || drem[n] < (x)))
#define LATEANY(x) (LATE(0, x) || LATE(1, x) || LATE(2, x))
ltl resetm { [] !LATEANY(MARGIN) }
ltl safe { [] (NASM <= 1 && !LATEANY(MARGIN)) }

/* The start: every node runs with a fresh session; node 0 holds act and runs the array, the
 * others wait for it. */
active proctype main() {
	atomic {
		startnodes();
#ifdef MUT_OWN_LEASE
		alive[OWN(0)] = 1; erem[OWN(0)] = TTL;
		alive[OWN(1)] = 1; erem[OWN(1)] = TTL;
		alive[OWN(2)] = 1; erem[OWN(2)] = TTL;
#endif
		act = LOCKLEASE(0);
		holder[0] = 1;
		mdup[0] = 1;
		waiting[LOCKLEASE(1)] = 1;
		waiting[LOCKLEASE(2)] = 1;
#ifdef ISOLATE0
		part[0] = 1;
#endif
		skip
	};
	world()
}
