/*
 * node.pml: what both models share. One node's session (an etcd lease), etcdlock's keepAlive,
 * the fencer and /dev/watchdog, the agent process's life (start, resume, new session, clean
 * stop, exit, kill -9, SIGSTOP) and the faults of the environment. The including model
 * defines the array side through these macros and inlines:
 *   PROT(n)           anything is protected on node n (design.md: an activation lease held,
 *                     an exclusive array running, a DLM lockspace in use)
 *   onlost_stop(n)    the stop attempt made when the session is lost at F (sysfs, no etcd)
 *   adopt(n)          the restarted process adopts the locks of its resumed session
 *   forget(n)         the process's memory of locks is lost (kill, exit, reset)
 *   cleanstop1(n)     the first step of a clean stop (stop arrays, release leases)
 *   reconcile(n)      one step of the agent's normal work
 *   kernel_reset(n)   what a reset does to the node's arrays
 *   lease_gone(l)     the lock service deletes everything bound to lease l
 *   model_tick()      the model's own timers, once per tick
 *
 * TIME. Integer ticks (params.pml: TTL = 60 ticks). The lock service's clock is the reference.
 * In each tick every node takes exactly one step (one atomic transition: the properties are
 * checked between steps), in any order, then every timer advances by one. All the protocol's comparisons are non-strict
 * (pet while now <= F; D <= expiry), so integer time is exact for them (digitization,
 * Henzinger, Manna and Pnueli 1992), provided the clocks' rate differences are covered: a
 * duration measured by one clock and raced against another clock may come out up to DRIFT
 * ticks in the racing side's favour. DRIFT = 1 tick over a TTL is a rate difference of 1/60;
 * real oscillators differ by about 1e-4. Only the unsafe side of each race is modelled, as
 * bounded nondeterminism where the timer ends:
 *   - the lock service may expire a lease up to DRIFT ticks before TTL after the renewal it
 *     received (a node clock slow against the lock service's);
 *   - a watchdog fires from T to T+DRIFT ticks after its last ping (its own oscillator);
 *   - a peer's fence_wait may end DRIFT ticks early (controlplane.pml).
 * The other side (etcd late, watchdog early, fence wait long) only postpones an expiry or
 * brings a reset forward, which the adversary can never need.
 *
 * MESSAGES. A renewal reaches the lock service when it is sent and its answer arrives at once,
 * or the request is lost. etcd counts the TTL from receipt, so receipt at the send time is
 * the earliest expiry D allows; a late answer only leaves the node on its older (smaller) D
 * for longer, which pets less. Any delay is therefore covered by "instant" and "lost". A lost
 * answer (etcd renewed, the node does not know) only makes the expiry later than D, which
 * can only postpone what others do: to the node it is the same as a lost request, so the
 * safety runs model the lost request only; -DANSWER_LOSS adds lost answers.
 *
 * FAULTS. Each fault spends one unit of BUDGET: SIGSTOP, kill -9 (while running or stopped),
 * SIGTERM, a partition from the lock service, a lost renewal, an operator's action (the
 * including model's). FAULTY limits them to some nodes, KINDS to some kinds. Their ends
 * are free and may come at any later tick, or never: SIGCONT, the agent's restart by systemd,
 * the node's boot after a reset, the partition healing. Stopping an array may always fail
 * (EBUSY: it is open or mounted), also free. With LIVE defined, once the budget is spent the
 * ends are forced at the next tick (the environment eventually behaves); the safety runs
 * never force them.
 */

#include "params.pml"

#ifndef BUDGET
#define BUDGET 3
#endif

/* FAULTY: the nodes faults may strike (a bit mask; all three by default). */
#ifndef FAULTY
#define FAULTY 7
#endif
#define FAULT(n) (budget > 0 && ((FAULTY >> (n)) & 1))

/* KINDS: the kinds of fault the environment may use (a bit mask; all by default). */
#define K_STOP  1       /* SIGSTOP */
#define K_KILL  2       /* kill -9 */
#define K_TERM  4       /* SIGTERM */
#define K_PART  8       /* partition from the lock service */
#define K_LOSS  16      /* a renewal lost */
#define K_OPER  32      /* an operator's action (controlplane.pml: stop the array) */
#ifndef KINDS
#define KINDS 63
#endif
#define FAULTK(n, k) (FAULT(n) && (KINDS & (k)))

/* ISOLATE0: node 0 is cut off from the lock service from the start, for good (a scenario). */
#ifdef ISOLATE0
#define ISOLATED(n) ((n) == 0)
#else
#define ISOLATED(n) 0
#endif

/* FORCE: the environment may leave a fault unended in this tick. */
#ifdef LIVE
#define FORCE (budget > 0)
#else
#define FORCE 1
#endif

#define N   3
#define NL  6           /* lease slots: node n's sessions use slots 2n and 2n+1, alternately */
#define NOL 255         /* no lease */

/* The agent process. */
#define DOWN    0       /* the node is reset (or booting): nothing runs, md is gone, /run is empty */
#define START   1       /* the agent process starts */
#define RESUME  2       /* it resumes the session recorded in /run/mdcluster/session */
#define NEWSESS 3       /* it asks the lock service for a new session */
#define RUN     4       /* it runs with a session */
#define EXITED  5       /* no agent process; the node is up */

/* Fence point: the agent pets, and trusts its session, only while now <= F = D - M - T, that
 * is while D - now >= M + T (fence.PetAllowed). MUT_NO_MARGIN: against D itself. */
#ifdef MUT_NO_MARGIN
#define PETOK(n) (drem[n] >= 1)
#else
#define PETOK(n) (drem[n] >= MARGIN + WDT)
#endif

byte budget = BUDGET;
byte pc[N];
bool paused[N];         /* SIGSTOP: the whole process is frozen, the kernel is not */
bool part[N];           /* partitioned from the lock service */
bool sfile[N];          /* /run/mdcluster/session: the lease and D; survives the process, not a reset */
byte slot[N];           /* the lease slot of the recorded session */
byte drem[N];           /* D - now on the node's monotonic clock (saturates at 0); valid with sfile */
bool ka[N];             /* etcdlock's keepAlive runs */
byte rt[N];             /* ticks to its next renewal attempt */
bool lost[N];           /* this process passed F: it stopped acting (sticky) */
bool sysrq[N];          /* the stop attempt is done, the reset (sysrq b) comes next */
bool term[N];           /* SIGTERM received: a clean stop is under way */
bool cs2[N];            /* the clean stop's first step is done */
byte wd[N];             /* watchdog: 0 inactive, else ticks until it fires at the latest */
bool wdopen[N];         /* this process holds /dev/watchdog open */

#ifndef NLX
#define NLX NL          /* a model may add lease slots after NL */
#endif
bool alive[NLX];        /* the lock service's leases */
byte erem[NLX];         /* ticks until the lock service expires the lease at the latest */

byte stepped;           /* nodes that took their step in this tick */
byte nd;                /* the node stepping (0 between steps) */
bool runs;              /* the node's process runs in this step (0 between steps) */
hidden int tnow;        /* ticks since the start: for the trails only, not part of the state */

/* Dead variables are zeroed, so that states differing only in them are one state. */
inline nofile(n) {
	sfile[n] = 0;
	drem[n] = 0
}
inline noka(n) {
	ka[n] = 0;
	rt[n] = 0
}

/* The lock service renews lease l on receipt. */
inline renew(l) {
	erem[l] = TTL
}

/* The lock service deletes lease l (expiry or revoke): everything bound to it goes at once. */
inline drop(l) {
	printf("t=%d lease %d deleted by the lock service\n", tnow, l);
	alive[l] = 0;
	erem[l] = 0;
	lease_gone(l)
}

/* The watchdog is pinged: by a pet, or by the kernel when /dev/watchdog is closed without the
 * magic character (drivers/watchdog/watchdog_dev.c, watchdog_release: "watchdog did not
 * stop!" then watchdog_ping), which also happens when the process exits or is killed. */
inline ping(n) {
	wd[n] = WDT + DRIFT
}

/* Opening /dev/watchdog starts an inactive watchdog; an active one is not pinged. */
inline openwd(n) {
	if
	:: wd[n] == 0 -> ping(n)
	:: else
	fi;
	wdopen[n] = 1
}

/* Magic close ('V', then close): the watchdog stops. */
inline disarm(n) {
	wd[n] = 0;
	wdopen[n] = 0
}

/* The process ends (exit or kill -9): its memory is gone, its descriptors are closed. */
inline procgone(n) {
	printf("t=%d node %d: agent process ends (watchdog open %d, active %d)\n", tnow, n, wdopen[n], wd[n] > 0);
	if
	:: wdopen[n] && wd[n] > 0 -> ping(n)
	:: else
	fi;
	wdopen[n] = 0;
	noka(n);
	lost[n] = 0;
	sysrq[n] = 0;
	term[n] = 0;
	cs2[n] = 0;
	paused[n] = 0;
	forget(n);
	pc[n] = EXITED
}

/* The node is reset (watchdog, sysrq b or a fence command): md, the process and /run go. */
inline reset(n) {
	printf("t=%d node %d: RESET\n", tnow, n);
	pc[n] = DOWN;
	paused[n] = 0;
	wd[n] = 0;
	wdopen[n] = 0;
	nofile(n);
	noka(n);
	lost[n] = 0;
	sysrq[n] = 0;
	term[n] = 0;
	cs2[n] = 0;
	forget(n);
	kernel_reset(n)
}

/* A new session: the lock service grants lease l; D = send time + TTL. */
inline grantsess(n) {
	slot[n] = 2 * n + (1 - (slot[n] & 1));
	printf("t=%d node %d: new session, lease %d\n", tnow, n, slot[n]);
	assert(!alive[slot[n]]);
	alive[slot[n]] = 1;
	renew(slot[n]);
	drem[n] = TTL;
	sfile[n] = 1;
	ka[n] = 1;
	rt[n] = RENEW;
	lost[n] = 0;
	openwd(n);
	pc[n] = RUN
}

/* etcdlock's keepAlive (session.go): renew every RENEW ticks, retry after RETRY, give up at
 * D - DONE (Done closes). D is the send time of the last confirmed renewal + TTL. */
inline keepalive(n) {
	if
	:: ka[n] && rt[n] == 0 ->
		if
		:: drem[n] <= DONE -> noka(n)
		:: else ->
			if
			:: part[n] -> rt[n] = RETRY
			:: !part[n] && !alive[slot[n]] -> noka(n)     /* ErrLeaseNotFound */
			:: !part[n] && alive[slot[n]] ->
				renew(slot[n]);
				if
				:: drem[n] = TTL; rt[n] = RENEW
#ifdef ANSWER_LOSS
				:: FAULTK(n, K_LOSS) -> budget--; rt[n] = RETRY; printf("t=%d node %d: renewal answer lost\n", tnow, n)
#endif
				fi
			:: !part[n] && alive[slot[n]] && FAULTK(n, K_LOSS) ->
				budget--; rt[n] = RETRY; printf("t=%d node %d: renewal request lost\n", tnow, n)
			fi
		fi
	:: else
	fi
}

/* The session is lost at F: stop the exclusive arrays (local sysfs writes, no etcd call); if
 * anything was protected, reset right after the stop attempt (next step: the process may be
 * stopped or killed in between); else give the session up, disarm, and start a new one. */
inline sessionlost(n) {
	printf("t=%d node %d: past F (D in %d): session lost\n", tnow, n, drem[n]);
	lost[n] = 1;
	if
	:: PROT(n) -> onlost_stop(n); sysrq[n] = 1
	:: else ->
		nofile(n);
		noka(n);
		disarm(n);
		forget(n);
		pc[n] = NEWSESS
	fi
}

/* The fencer (fence.Fencer): pet while now <= F, else the session is lost. A pet period is at
 * most one tick here (T/4 >= 1 tick), so the last pet is as late as F allows. */
inline fencer(n) {
	if
	:: lost[n] -> skip
	:: !lost[n] && PETOK(n) ->
		if
		:: wdopen[n] -> ping(n)
		:: else
		fi
	:: else -> sessionlost(n)
	fi
}

/* The restarted process resumes the recorded session (dlm.Resumer): ErrSessionExpired gives a
 * new session, any other error a retry (never a new session). */
inline resume(n) {
	if
	:: part[n] -> skip
	:: !part[n] && !alive[slot[n]] ->
		nofile(n);
		pc[n] = NEWSESS
	:: !part[n] && alive[slot[n]] ->
		renew(slot[n]);
		drem[n] = TTL;
		ka[n] = 1;
		rt[n] = RENEW;
		adopt(n);
		pc[n] = RUN
#ifdef ANSWER_LOSS
	:: !part[n] && alive[slot[n]] && FAULTK(n, K_LOSS) ->
		budget--; renew(slot[n])                          /* renewed, the answer is lost */
#endif
	fi
}

/* The clean stop's second step: if anything is still protected, keep the session, its file
 * and the armed watchdog, and exit (a restart resumes; the exit itself closes the watchdog
 * without the magic character); otherwise revoke the session, disarm, and exit. */
inline cleanstop2(n) {
	if
	:: PROT(n) -> skip
	:: else ->
		if
		:: sfile[n] && !part[n] && alive[slot[n]] -> drop(slot[n])
		:: else                                            /* revoke failed: etcd expires it */
		fi;
		nofile(n);
		disarm(n)
	fi;
	procgone(n)
}

/* One step of a running, not stopped agent process. */
inline agent(n) {
	if
	:: sysrq[n] -> printf("t=%d node %d: sysrq b\n", tnow, n); reset(n)
	:: else ->
		if
		:: pc[n] == START ->
			/* A process without a session record waits for a session before it arms the
			 * watchdog; with one, it opens the watchdog first and pets against the
			 * recorded D (design.md, "Restart"). FIX_START_CHECK: it compares now with the
			 * recorded F first and never opens the watchdog past it (see README.md). */
			if
#ifdef FIX_START_CHECK
			:: sfile[n] && PETOK(n) -> openwd(n); pc[n] = RESUME; fencer(n)
			:: sfile[n] && !PETOK(n) -> pc[n] = RESUME; sessionlost(n)
#else
			:: sfile[n] -> openwd(n); pc[n] = RESUME; fencer(n)
#endif
			:: else -> pc[n] = NEWSESS
			fi
		:: pc[n] == NEWSESS ->
			if
			:: term[n] && cs2[n] -> cleanstop2(n)
			:: term[n] && !cs2[n] -> cleanstop1(n); cs2[n] = 1
			:: !term[n] && !part[n] && !alive[2 * n + (1 - (slot[n] & 1))] -> grantsess(n)
			:: else -> skip
			fi
		:: pc[n] == RESUME || pc[n] == RUN ->
			keepalive(n);
			fencer(n);
			if
			:: pc[n] != RESUME && pc[n] != RUN || lost[n] -> skip
			:: else ->
				if
				:: term[n] && cs2[n] -> cleanstop2(n)
				:: term[n] && !cs2[n] -> cleanstop1(n); cs2[n] = 1
				:: !term[n] && pc[n] == RESUME -> resume(n)
				:: !term[n] && pc[n] == RUN -> reconcile(n)
				fi
			fi
		fi
	fi
}

/* Node n's step in this tick: the environment may strike, then the process runs (agent is
 * expanded once: the choice is made first). */
inline nodestep(n) {
	if
	:: pc[n] == DOWN ->
		if
		:: pc[n] = START; printf("t=%d node %d: boots\n", tnow, n)   /* /run is empty */
		:: FORCE -> skip
		fi
	:: pc[n] == EXITED ->
		if
		:: pc[n] = START; printf("t=%d node %d: agent restarted\n", tnow, n)
		:: FORCE -> skip
		fi
	:: pc[n] != DOWN && pc[n] != EXITED && paused[n] ->
		if
		:: paused[n] = 0; printf("t=%d node %d: SIGCONT\n", tnow, n); runs = 1
		:: FAULTK(n, K_KILL) -> budget--; printf("t=%d node %d: kill -9\n", tnow, n); procgone(n)
		:: FORCE -> skip
		fi
	:: pc[n] != DOWN && pc[n] != EXITED && !paused[n] ->
		if
		:: runs = 1
		:: FAULTK(n, K_STOP) -> budget--; paused[n] = 1; printf("t=%d node %d: SIGSTOP\n", tnow, n)
		:: FAULTK(n, K_KILL) -> budget--; printf("t=%d node %d: kill -9\n", tnow, n); procgone(n)
		:: FAULTK(n, K_TERM) && !term[n] && pc[n] != START ->
			budget--; term[n] = 1; printf("t=%d node %d: SIGTERM\n", tnow, n); runs = 1
		fi
	fi;
	if
	:: runs -> runs = 0; agent(n)
	:: else
	fi;
	if
	:: FAULTK(n, K_PART) && !part[n] -> budget--; part[n] = 1; printf("t=%d node %d: partitioned\n", tnow, n)
	:: part[n] && !ISOLATED(n) -> part[n] = 0; printf("t=%d node %d: partition heals\n", tnow, n)
	:: !part[n] || FORCE -> skip
	fi
}

/* Node n's clocks and its watchdog advance one tick. */
inline ticknode(n) {
	if
	:: sfile[n] && drem[n] > 0 -> drem[n]--
	:: else
	fi;
	if
	:: ka[n] && rt[n] > 0 -> rt[n]--
	:: else
	fi;
	if
	:: wd[n] == 1 -> printf("t=%d node %d: watchdog fires\n", tnow, n); reset(n)
	:: wd[n] > 1 && wd[n] <= DRIFT + 1 ->                     /* fires up to DRIFT ticks late */
		printf("t=%d node %d: watchdog fires\n", tnow, n); reset(n)
	:: wd[n] > 1 -> wd[n]--
	:: else
	fi
}

/* The lock service's lease l advances one tick; it may expire up to DRIFT ticks early. */
inline ticklease(l) {
	if
	:: alive[l] && erem[l] == 1 -> drop(l)
	:: alive[l] && erem[l] > 1 && erem[l] <= DRIFT + 1 -> drop(l)
	:: alive[l] && erem[l] > 1 -> erem[l]--
	:: else
	fi
}

inline tick() {
	tnow++;
	ticknode(0); ticknode(1); ticknode(2);
	ticklease(0); ticklease(1); ticklease(2); ticklease(3); ticklease(4); ticklease(5);
	model_tick()
}

/* Health (fence.Healthy): a session whose renewals succeed, but for a lost one now and then,
 * never reaches F. Checked with KINDS=K_LOSS. */
ltl healthy { [] !(lost[0] || lost[1] || lost[2]) }

/* The world: in each tick every node takes one step, in any order (each step is one atomic
 * transition, so the property is checked between them), then time advances. */
inline world() {
	do
	:: atomic {
		stepped != 7 ->
		if
		:: !(stepped & 1) -> nd = 0
		:: !(stepped & 2) -> nd = 1
		:: !(stepped & 4) -> nd = 2
		fi;
		stepped = stepped | (1 << nd);
		nodestep(nd);
		nd = 0
	}
	:: atomic { stepped == 7 -> stepped = 0; tick() }
	od
}
