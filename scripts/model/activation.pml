/*
 * activation.pml: exclusive activation of one array by three nodes (design.md, "Exclusive
 * arrays"). The activation lease act/<uuid> is a lock bound to the holder's session lease;
 * waiters queue for it and are granted when the holder releases it or its lease expires. Only
 * the holder assembles the array, after re-checking its fencing token. See node.pml for the
 * session, the watchdog, the process and the faults, README.md for the abstractions.
 *
 * Properties:
 *   excl     [] at most one node has the array assembled (and so writable)
 *   live     [] (the node holding act is down -> <> some node has the array assembled),
 *            checked with -DLIVE (faults end once the budget is spent) and weak fairness
 *   resetdm  a node running the array is reset by D - M (design.md's claim)
 *   resetby  ... by D - M + T (what holds: see README.md)
 *
 * Mutants (each must be refuted by a counter-example):
 *   MUT_NO_MARGIN      the fencer pets against D instead of F = D - M - T (node.pml)
 *   MUT_RELEASE_FIRST  a clean stop releases the activation lease, then stops the array
 *   MUT_OWN_LEASE      act is taken under a second lease (a control plane's own session)
 *                      that the watchdog does not follow
 */

#define PROT(n) (holder[n] || mdup[n] || checked[n])

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

/* Release act and cancel a queued request (an etcd call: not while partitioned). */
inline release(n) {
	if
	:: !part[n] ->
		waiting[LOCKLEASE(n)] = 0;
		holder[n] = 0;
		checked[n] = 0;
		if
		:: act == LOCKLEASE(n) -> printf("t=%d node %d: releases act\n", tnow, n); act = NOL; grantnext()
		:: else
		fi
	:: else
	fi
}

inline onlost_stop(n) {
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

/* Clean stop, first step: stop the exclusive array, then release the activation lease if it
 * stopped (an array that cannot be stopped keeps its lease). */
inline cleanstop1(n) {
#ifdef MUT_RELEASE_FIRST
	release(n);
	stopmd(n)
#else
	stopmd(n);
	if
	:: !mdup[n] -> release(n)
	:: else
	fi
#endif
}

/* One step of the agent's reconcile loop. */
inline reconcile(n) {
	if
	:: mdup[n] && !holder[n] && !checked[n] -> stopmd(n)      /* running without the lease */
	:: checked[n] -> mdup[n] = 1; checked[n] = 0; printf("t=%d node %d: ASSEMBLES the array\n", tnow, n)
	:: !checked[n] && holder[n] && !mdup[n] && !part[n] ->     /* re-check the fencing token */
		if
		:: act == LOCKLEASE(n) -> checked[n] = 1; printf("t=%d node %d: fencing token checked\n", tnow, n)
		:: else -> holder[n] = 0                              /* ErrStaleToken */
		fi
	:: !mdup[n] && !holder[n] && !part[n] && act == LOCKLEASE(n) -> holder[n] = 1   /* granted */
	:: !mdup[n] && !holder[n] && !part[n] && act != LOCKLEASE(n) && !waiting[LOCKLEASE(n)] && alive[LOCKLEASE(n)] ->
		waiting[LOCKLEASE(n)] = 1; grantnext()                /* queue for the lease */
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

/* How late a node running the array is reset, against its session's D: LATE(n, x) is node n
 * running the array with D - now < x. design.md says the watchdog fires at the latest at
 * F + T = D - M (resetdm, with DRIFT for the watchdog's clock); with the kernel's ping on
 * close it can be T later (resetby). */
#define LATE(n, x) (mdup[n] && sfile[n] && drem[n] < (x))
#define LATEANY(x) (LATE(0, x) || LATE(1, x) || LATE(2, x))
ltl resetdm { [] !LATEANY(MARGIN - DRIFT) }
ltl resetby { [] !LATEANY(MARGIN - WDT - DRIFT) }

/* The start: every node runs with a fresh session; node 0 holds act and runs the array, the
 * others wait for it. */
active proctype main() {
	atomic {
		byte i;
		for (i : 0 .. N - 1) {
			pc[i] = RUN;
			slot[i] = 2 * i;
			alive[2 * i] = 1;
			erem[2 * i] = TTL;
			drem[i] = TTL;
			sfile[i] = 1;
			ka[i] = 1;
			rt[i] = RENEW;
			wdopen[i] = 1;
			wd[i] = WDT + DRIFT
		}
		i = 0;
#ifdef MUT_OWN_LEASE
		for (i : 0 .. N - 1) {
			alive[OWN(i)] = 1;
			erem[OWN(i)] = TTL
		}
		i = 0;
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
