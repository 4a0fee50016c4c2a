/*
 * node.pml: what both models share, as the agent implements it (mdcluster/agent: agent.go Run,
 * startGuard, keepSession, sessionLost; fencing.go guard; sessions.go; lifecycle.go shutdown).
 * One node's session (an etcd lease), etcdlock's keepAlive, the guard and /dev/watchdog, the
 * agent process's life (start, open the engine, resume, new session, clean stop, exit, kill -9,
 * SIGSTOP) and the faults of the environment. The including model defines the array side
 * through these macros and inlines:
 *   PROT(n)           something on node n may still write after the session-lost stop: an
 *                     exclusive array that would not stop, a DLM lockspace in use
 *   onlost_stop(n)    the session-lost steps' stop of the exclusive arrays (sysfs, no etcd)
 *   adopt(n)          the restarted process adopts the locks of its resumed session
 *   forget(n)         the process's memory of locks is lost (kill, exit, reset, new session)
 *   cleanstop1(n)     the first step of a clean stop (stop arrays, release their leases)
 *   reconcile(n)      one step of the agent's passes
 *   kernel_reset(n)   what a reset does to the node's arrays
 *   lease_gone(l)     the lock service deletes everything bound to lease l
 *   model_tick()      the model's own timers, once per tick
 *
 * TIME. Integer ticks (params.pml: TTL = 60 ticks, 84 in the tightest config). The lock
 * service's clock is the reference. In each tick every node takes exactly one step (one atomic
 * transition: the properties are checked between steps), in any order, then every timer
 * advances by one. The protocol's comparisons are non-strict (pet while now <= F; D <= expiry),
 * so integer time is exact for them (digitization, Henzinger, Manna and Pnueli 1992), provided
 * the clocks' rate differences are covered: a duration measured by one clock and raced against
 * another may come out up to DRIFT ticks in the racing side's favour (1 tick over a TTL: 1/60
 * or 1/84, above config.MaxClockRate):
 *   - the lock service may expire a lease up to DRIFT ticks before TTL after the renewal it
 *     received (a node clock slow against the lock service's);
 *   - a watchdog fires from T to T+DRIFT ticks after its last ping (its own oscillator);
 *   - a peer's fence_wait may end DRIFT ticks early (controlplane.pml).
 *
 * MESSAGES. A renewal reaches the lock service when it is sent and its answer arrives at once,
 * or the request is lost (a late answer only leaves the node on its older, smaller D; a lost
 * answer only makes etcd's expiry later than D: -DANSWER_LOSS adds it).
 *
 * FAULTS. Each fault spends one unit of BUDGET: SIGSTOP, kill -9 (while running or stopped),
 * SIGTERM, a partition from the lock service, a lost renewal, an operator's action (the
 * including model's). FAULTY limits them to some nodes, KINDS to some kinds. Their ends are
 * free and may come at any later tick, or never: SIGCONT, the agent's restart by systemd, the
 * node's boot after a reset, the partition healing. Stopping an array may always fail (EBUSY:
 * it is open or mounted), also free. With LIVE defined, once the budget is spent the ends are
 * forced at the next tick (the environment eventually behaves); the safety runs never force
 * them.
 *
 * Switches (README.md): MUT_* (mutants: the model of a flawed protocol, which spin must refute).
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

/* The agent process (agent.go Run). */
#define DOWN    0       /* the node is reset (or booting): nothing runs, md is gone, /run is empty */
#define START   1       /* startGuard: the session file is read and checked, before the watchdog */
#define OPENWD  2       /* startGuard: the watchdog is opened (fence.OpenWatchdog), the guard starts */
#define ENGINE  3       /* openLockService: etcd's client waits for a leader (blocks while cut off) */
#define RESUME  4       /* sessionManager.open: the recorded session is resumed (retried) */
#define NEWSESS 5       /* sessionManager.open: a new session is asked for */
#define RUN     6       /* it runs with a session */
#define EXITED  7       /* no agent process; the node is up */

/* The fence point: the guard pets, and trusts the session, only while now <= F, that is while
 * D - now >= FENCE (fence.PetAllowed; FENCE = M + FenceTimeouts T = M + 3T, from the code).
 * MUT_NO_MARGIN: against D itself. MUT_ONE_TIMEOUT: F = D - M - T (the fence point before the
 * code kept the close's ping). MUT_TWO_TIMEOUTS: F = D - M - 2T (before it kept a pet that
 * lands late after a SIGSTOP: README.md, finding 2). */
#if defined(MUT_NO_MARGIN)
#define FENCEAT 1
#elif defined(MUT_ONE_TIMEOUT)
#define FENCEAT (MARGIN + WDT)
#elif defined(MUT_TWO_TIMEOUTS)
#define FENCEAT (MARGIN + 2 * WDT)
#else
#define FENCEAT FENCE
#endif
#define PETOK(n) (drem[n] >= FENCEAT)

/* The guard knows the recorded deadline from startGuard on: startGuard stores it
 * (sessionManager.recorded) before it opens the watchdog. MUT_NO_RECORD: it is stored only in
 * sessionManager.open, after the lock engine is up (before c948591; README.md, finding 1):
 * until then the guard pets with no deadline. */
#ifdef MUT_NO_RECORD
#define GUARDREC 0
#else
#define GUARDREC 1
#endif

byte budget = BUDGET;
byte pc[N];
bool paused[N];         /* SIGSTOP: the whole process is frozen, the kernel is not */
bool petpend[N];        /* the SIGSTOP fell between the guard's check and its pet: the pet comes at SIGCONT */
bool part[N];           /* partitioned from the lock service */
bool sfile[N];          /* /run/mdcluster/session: the lease and D; survives the process, not a reset */
byte slot[N];           /* the lease slot of the recorded session */
byte drem[N];           /* D - now on the node's monotonic clock (saturates at 0); valid with sfile */
bool ka[N];             /* etcdlock's keepAlive runs (false in RUN: the session's Done is closed) */
byte rt[N];             /* ticks to its next renewal attempt */
bool lost[N];           /* the guard dropped the recorded deadline (sessionManager.recorded = nil) */
bool sysrq[N];          /* the session-lost steps decided to reset: sysrq b comes next */
bool term[N];           /* SIGTERM received: a clean stop is under way */
bool cs2[N];            /* the clean stop's first step is done */
byte wd[N];             /* watchdog: 0 inactive, else ticks until it fires at the latest */
bool wdopen[N];         /* this process holds /dev/watchdog open */

#ifndef NLX
#define NLX NL          /* a model may add lease slots after NL */
#endif
bool alive[NLX];        /* the lock service's leases */
byte erem[NLX];         /* ticks until the lock service expires the lease at the latest */

bool inited;            /* the start is set up (the claims hold from then on) */
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

/* The watchdog is pinged: by a pet, by WDIOC_SETTIMEOUT on an active watchdog (the kernel's
 * watchdog_ioctl pings "to make sure that the watchdog keep's running"), or by the kernel when
 * /dev/watchdog is closed without the magic character (watchdog_release: "watchdog did not
 * stop!" then watchdog_ping), which also happens when the process exits or is killed. */
inline ping(n) {
	wd[n] = WDT + DRIFT
}

/* fence.OpenWatchdog: open (starts an inactive watchdog), then WDIOC_SETTIMEOUT (pings an
 * active one): either way the countdown restarts. */
inline openwd(n) {
	ping(n);
	wdopen[n] = 1
}

/* Magic close ('V', then close): the watchdog stops. */
inline disarm(n) {
	wd[n] = 0;
	wdopen[n] = 0
}

/* The guard's pet (guard.check: Pet). */
inline pet(n) {
	if
	:: wdopen[n] -> ping(n)
	:: else
	fi
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
	petpend[n] = 0;
	forget(n);
	pc[n] = EXITED
}

/* The node is reset (watchdog, sysrq b or a fence command): md, the process and /run go. */
inline reset(n) {
	printf("t=%d node %d: RESET\n", tnow, n);
	pc[n] = DOWN;
	paused[n] = 0;
	petpend[n] = 0;
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

/* A new session (sessionManager.open: NewSession, record): the lock service grants lease l;
 * D = send time + TTL. */
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
	pc[n] = RUN
}

/* etcdlock's keepAlive (session.go): renew every RENEW ticks, retry after RETRY, end the
 * session (Done) at D - DONE or when the lock service no longer has the lease. */
inline keepalive(n) {
	if
	:: ka[n] && drem[n] <= DONE -> noka(n)                  /* it wakes at the Done point too */
	:: ka[n] && drem[n] > DONE && rt[n] == 0 ->
		if
		:: part[n] -> rt[n] = RETRY
		:: !part[n] && !alive[slot[n]] -> noka(n)         /* ErrLeaseNotFound */
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
	:: else
	fi
}

/* The session-lost steps (Agent.sessionLost via guard.lost): stop the exclusive arrays (local
 * sysfs, no etcd call) and decide: reset (sysrq b, the next step: the process may be stopped
 * or killed in between) only if something may still write. loststeps leaves the rest to its
 * caller. */
inline loststeps(n) {
	onlost_stop(n);
	if
	:: PROT(n) -> sysrq[n] = 1; printf("t=%d node %d: something may still write: reset\n", tnow, n)
	:: else
	fi
}

/* The current session is lost (guard.check: not trusted): the steps, then, with nothing left
 * to protect, keepSession ends the old session (best effort), forgets it and opens a new one.
 * The watchdog stays open and armed. */
inline sessionlost(n) {
	printf("t=%d node %d: session lost (D in %d)\n", tnow, n, drem[n]);
	loststeps(n);
	if
	:: sysrq[n]
	:: else ->
		if
		:: !part[n] && alive[slot[n]] -> drop(slot[n])   /* closeQuietly: revoked */
		:: skip
		fi;
		nofile(n);
		noka(n);
		forget(n);
		lost[n] = 0;
		pc[n] = NEWSESS
	fi
}

/* The recorded session reached its fence point before it was resumed, or a resume found it
 * gone (guard.lost(nil), previousGone): the steps; with nothing to protect the guard drops
 * the recorded deadline and pets on. */
inline lostprev(n) {
	printf("t=%d node %d: the recorded session is past F or gone (D in %d)\n", tnow, n, drem[n]);
	loststeps(n);
	lost[n] = 1
}

/* The guard (fencing.go, guard.check), once per step while the process runs and the watchdog
 * is open: in RUN it pets while the session is trusted (keepAlive running and now <= F); in
 * ENGINE and RESUME against the recorded D until it dropped it (MUT_NO_RECORD: in RESUME
 * only); elsewhere (no session, no recorded deadline) it pets without a deadline. */
inline guard(n) {
	if
	:: pc[n] == RUN ->
		if
		:: ka[n] && PETOK(n) -> pet(n)
		:: else -> sessionlost(n)
		fi
	:: pc[n] == RESUME || (GUARDREC && pc[n] == ENGINE) ->
		if
		:: lost[n] || !sfile[n] || PETOK(n) -> pet(n)
		:: else -> lostprev(n)
		fi
	:: else -> pet(n)
	fi
}

/* Would the guard's last check have let it pet? (The SIGSTOP that just fell may have caught
 * it between that check and the pet: the pet then comes at SIGCONT, however late.) Only the
 * checks against a deadline matter: elsewhere the guard pets after SIGCONT anyway. */
#define CHECKED(n) (wdopen[n] && !sysrq[n] && drem[n] + 1 >= FENCEAT && \
	(pc[n] == RUN && ka[n] || (pc[n] == RESUME || GUARDREC && pc[n] == ENGINE) && sfile[n] && !lost[n]))

/* startGuard: the session file is checked before the watchdog is opened. Past the recorded F
 * the watchdog is never opened: the session-lost steps run; with nothing to protect the record
 * is forgotten and the agent starts afresh (it opens the watchdog in the next step).
 * MUT_RESTART_OPEN: the watchdog is opened first (the rule before the fix). */
inline startcheck(n) {
#ifdef MUT_RESTART_OPEN
	openwd(n);
	printf("t=%d node %d: opens the watchdog (a ping) before it checks F\n", tnow, n);
#endif
	if
	:: sfile[n] && !PETOK(n) ->
		printf("t=%d node %d: starts past the recorded F (D in %d)\n", tnow, n, drem[n]);
		loststeps(n);
		if
		:: sysrq[n]
		:: else -> nofile(n)
		fi
	:: else
	fi;
#ifdef MUT_RESTART_OPEN
	pc[n] = ENGINE
#else
	pc[n] = OPENWD
#endif
}

/* sessionManager.resume: ErrSessionExpired runs the session-lost steps and then asks for a new
 * session; any other error is retried (never a new session). */
inline resume(n) {
	if
	:: part[n] -> skip
	:: !part[n] && !alive[slot[n]] ->
		lostprev(n);
		if
		:: sysrq[n]
		:: else -> lost[n] = 0; pc[n] = NEWSESS
		fi
	:: !part[n] && alive[slot[n]] ->
		renew(slot[n]);
		drem[n] = TTL;
		ka[n] = 1;
		rt[n] = RENEW;
		lost[n] = 0;
		adopt(n);
		pc[n] = RUN;
		printf("t=%d node %d: resumed lease %d\n", tnow, n, slot[n])
#ifdef ANSWER_LOSS
	:: !part[n] && alive[slot[n]] && FAULTK(n, K_LOSS) ->
		budget--; renew(slot[n])                          /* renewed, the answer is lost */
#endif
	fi
}

/* The clean stop's second step (lifecycle.go shutdown): if anything may still write, keep the
 * session and its file, pet once more if the session is trusted, leave the watchdog armed and
 * exit (the exit closes it without the magic character); otherwise disarm, close the current
 * session (revoke) and forget its file, and exit. A process that has not resumed its recorded
 * session has none to close and keeps the file. */
inline cleanstop2(n) {
	if
	:: PROT(n) ->
		if
		:: pc[n] == RUN && ka[n] && PETOK(n) -> pet(n)
		:: else
		fi
	:: else ->
		disarm(n);
		if
		:: pc[n] == RUN ->
			if
			:: !part[n] && alive[slot[n]] -> drop(slot[n])
			:: else                                            /* revoke failed: etcd expires it */
			fi;
			nofile(n)
		:: else
		fi
	fi;
	procgone(n)
}

/* One step of a running, not stopped agent process. */
inline agent(n) {
	if
	:: sysrq[n] -> printf("t=%d node %d: sysrq b\n", tnow, n); reset(n)
	:: else ->
		if
		:: pc[n] == START -> startcheck(n)
		:: pc[n] == OPENWD -> openwd(n); pc[n] = ENGINE; printf("t=%d node %d: opens the watchdog (a ping)\n", tnow, n)
		:: pc[n] == ENGINE ->
			guard(n);
			if
			:: sysrq[n]
			:: else ->
				if
				:: term[n] -> procgone(n)                /* openEngine fails: finish(false), exit */
				:: !term[n] && !part[n] && sfile[n] -> lost[n] = 0; pc[n] = RESUME; printf("t=%d node %d: lock engine up; resuming\n", tnow, n)
				:: !term[n] && !part[n] && !sfile[n] -> lost[n] = 0; pc[n] = NEWSESS; printf("t=%d node %d: lock engine up\n", tnow, n)
				:: !term[n] && part[n] -> skip          /* no leader: WaitLeader waits */
				fi
			fi
		:: pc[n] == RESUME || pc[n] == NEWSESS || pc[n] == RUN ->
			if
			:: pc[n] == RUN -> keepalive(n)
			:: else
			fi;
			guard(n);
			if
			:: sysrq[n] -> skip
			:: !sysrq[n] && term[n] && cs2[n] -> cleanstop2(n)
			:: !sysrq[n] && term[n] && !cs2[n] -> cleanstop1(n); cs2[n] = 1
			:: !sysrq[n] && !term[n] && pc[n] == RESUME -> resume(n)
			:: !sysrq[n] && !term[n] && pc[n] == NEWSESS ->
				if
				:: !part[n] && !alive[2 * n + (1 - (slot[n] & 1))] -> grantsess(n)
				:: else
				fi
			:: !sysrq[n] && !term[n] && pc[n] == RUN -> reconcile(n)
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
		:: paused[n] = 0; printf("t=%d node %d: SIGCONT\n", tnow, n);
		   if
		   :: petpend[n] -> petpend[n] = 0; pet(n); printf("t=%d node %d: the pet checked before SIGSTOP\n", tnow, n)
		   :: else
		   fi;
		   runs = 1
		:: FAULTK(n, K_KILL) -> budget--; printf("t=%d node %d: kill -9\n", tnow, n); procgone(n)
		:: FORCE -> skip
		fi
	:: pc[n] != DOWN && pc[n] != EXITED && !paused[n] ->
		if
		:: runs = 1
		:: FAULTK(n, K_STOP) -> budget--; paused[n] = 1; printf("t=%d node %d: SIGSTOP\n", tnow, n)
		:: FAULTK(n, K_STOP) && CHECKED(n) ->
			budget--; paused[n] = 1; petpend[n] = 1;
			printf("t=%d node %d: SIGSTOP between the guard's check and its pet\n", tnow, n)
		:: FAULTK(n, K_KILL) -> budget--; printf("t=%d node %d: kill -9\n", tnow, n); procgone(n)
		:: FAULTK(n, K_TERM) && !term[n] && pc[n] != START && pc[n] != OPENWD ->
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
 * never reaches F: every node keeps running on its session. Checked with KINDS=K_LOSS. */
ltl healthy { [] (!inited || pc[0] == RUN && pc[1] == RUN && pc[2] == RUN && !sysrq[0] && !sysrq[1] && !sysrq[2]) }

/* The start: every node runs with a fresh session and the watchdog open. */
inline startnodes() {
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
	inited = 1
}

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
