/*
 * controlplane.pml: the DLM control plane (design.md, "Peers"; mdcluster/controld riding the
 * agent's session, mdcluster/agent controlplane.go). Three nodes run an md-cluster array; each
 * writes to its own bitmap slot while its array runs and its lockspace is joined. A node's
 * member keys are bound to its session lease (the one the watchdog follows). When the lock
 * service deletes a lease with such a key the peers see the node fail; they wait fence_wait on
 * their own clock (or run fence_command until it succeeds), then remove the node from the
 * lockspace, and md-cluster recovers its slot. A node that stops its array leaves the
 * lockspace first in md, then its key goes. md-cluster arrays are not stopped by the agent:
 * a lockspace in use when the session is lost makes the node reset; at a clean stop it keeps
 * the session and the armed watchdog. See node.pml for the session, the watchdog, the process
 * and the faults, README.md for the abstractions.
 *
 * Properties:
 *   slotsafe  [] no node's slot is being recovered while that node can still write
 *   resetm    [] a node with its lockspace in use is reset at least M before its D
 *   safe      slotsafe and resetm
 *
 * Configuration: -DFENCE_CMD uses a fence command instead of fence_wait.
 *
 * Mutants (each must be refuted by a counter-example):
 *   MUT_NO_MARGIN      the guard pets against D instead of F (node.pml), and the peers
 *                      recover at the expiry (no fence wait)
 *   MUT_NO_RECORD      the guard pets with no deadline until the lock engine is up (node.pml)
 *   MUT_TWO_TIMEOUTS   F = D - M - 2T (node.pml)
 *   MUT_ONE_TIMEOUT    F = D - M - T (node.pml)
 *   MUT_RESTART_OPEN   a restarted agent opens the watchdog before it checks F (node.pml)
 *   MUT_RELEASE_FIRST  a clean stop revokes the session (the lease goes, and the member key
 *                      with it), then stops the array
 *   MUT_OWN_LEASE      the member key is bound to the control plane's own lease, which the
 *                      watchdog does not follow (as before the control plane rode the session)
 */

#define PROT(n) (inls[n])

#ifdef MUT_OWN_LEASE
#define NLX (NL + N)
#define OWN(n) (NL + n)
#define KEYLEASE(n) OWN(n)
#else
#define NLX NL
#define KEYLEASE(n) slot[n]
#endif

#include "node.pml"

/* The peers' fence wait. MUT_NO_MARGIN removes the margin at both ends: the node pets against
 * D (node.pml) and the peers recover at the expiry (either margin alone suffices, README.md). */
#ifdef MUT_NO_MARGIN
#define FWAIT 1
#else
#define FWAIT FENCE_WAIT
#endif

bool inls[N];           /* the array runs on node n and its lockspace is joined: it writes to its slot */
byte lskey[N];          /* the lease node n's member key is bound to; NOL: no key */
bool pend[N];           /* the peers saw node n fail while a member: fencing it */
byte fw[N];             /* fence_wait left, on a peer's clock */
bool recov[N];          /* a peer recovers node n's slot */
#ifdef MUT_OWN_LEASE
bool ownstall[N];       /* the control plane's keepAlive stalled */
#endif

/* The lock service deletes lease l: a member key bound to it goes, and the peers start
 * fencing that node (controld: failed, then fence). */
inline keygone(n, l) {
	if
	:: lskey[n] == l ->
		lskey[n] = NOL;
		pend[n] = 1;
		printf("t=%d node %d fails as a lockspace member: the peers fence it\n", tnow, n);
#ifndef FENCE_CMD
		fw[n] = FWAIT
#endif
	:: else
	fi
}

inline lease_gone(l) {
	keygone(0, l); keygone(1, l); keygone(2, l)
}

/* mdadm --stop of the clustered array: md leaves the lockspace first; EBUSY while in use. */
inline stopmd(n) {
	if
	:: inls[n] = 0; printf("t=%d node %d: array stopped, lockspace left\n", tnow, n)
	:: printf("t=%d node %d: array stop fails (EBUSY)\n", tnow, n)
	fi
}

/* The clustered arrays are not stopped by the session-lost steps (stopExclusive): a lockspace
 * in use makes the node reset. */
inline onlost_stop(n) {
	skip
}

inline adopt(n) {
	skip
}

inline forget(n) {
	skip
}

inline kernel_reset(n) {
	inls[n] = 0
}

/* Clean stop, first step: shutdown stops only exclusive arrays; a lockspace in use keeps the
 * session. MUT_RELEASE_FIRST revokes the session first, then stops the array. */
inline cleanstop1(n) {
#ifdef MUT_RELEASE_FIRST
	if
	:: sfile[n] && !part[n] && alive[slot[n]] -> drop(slot[n])
	:: else
	fi;
	if
	:: inls[n] -> stopmd(n)
	:: else
	fi
#else
	skip
#endif
}

/* One step of the agent: join the lockspace when the array is assembled (not while the peers
 * still fence this node's previous incarnation: the kernel join needs them), or, an operator's
 * action that spends one fault, stop the array and leave. */
inline reconcile(n) {
	if
	:: !inls[n] && !pend[n] && !part[n] && lskey[n] == NOL && alive[KEYLEASE(n)] ->
		lskey[n] = KEYLEASE(n);
		inls[n] = 1;
		printf("t=%d node %d joins the lockspace (key on lease %d)\n", tnow, n, lskey[n])
	:: !inls[n] && lskey[n] != NOL && !part[n] ->
		printf("t=%d node %d: controld deletes its member key\n", tnow, n);
		lskey[n] = NOL                                      /* a clean leave: no recovery */
	:: inls[n] ->
		if
		:: FAULTK(n, K_OPER) -> budget--; printf("t=%d node %d: the operator stops the array\n", tnow, n); stopmd(n)
		:: skip
		fi
	:: else -> skip
	fi
}

/* The peers' side of node n's failure: the fence gate, then recovery of its slot. Recovery at
 * the gate's earliest moment is the worst case: n can only lose its ability to write while it
 * is fenced (it cannot rejoin before the peers are done). */
inline gate(n) {
	if
	:: pend[n] && !recov[n] ->
#ifdef FENCE_CMD
		if
		:: printf("t=%d fence command for node %d succeeds\n", tnow, n);
		   if
		   :: pc[n] != DOWN -> reset(n)
		   :: else
		   fi;
		   recov[n] = 1
		:: skip                                               /* it fails: retried */
		fi
#else
		if
		:: fw[n] == 1 -> fw[n] = 0; recov[n] = 1
		:: fw[n] > 1 && fw[n] <= DRIFT + 1 -> fw[n] = 0; recov[n] = 1   /* a fast peer clock */
		:: fw[n] > 1 -> fw[n]--
		fi;
		if
		:: recov[n] -> printf("t=%d fence_wait for node %d is over\n", tnow, n)
		:: else
		fi
#endif
	:: pend[n] && recov[n] ->
		if
		:: printf("t=%d slot of node %d recovered\n", tnow, n); pend[n] = 0; recov[n] = 0
		:: skip
		fi
	:: else
	fi;
	if
	:: recov[n] -> printf("t=%d a peer recovers the slot of node %d (it can write: %d)\n", tnow, n, inls[n])
	:: else
	fi
}

/* A lease that is no node's recorded session and binds no member key has no effect left. */
inline unowned(l) {
	if
	:: alive[l] && !(sfile[l / 2] && slot[l / 2] == l) && lskey[0] != l && lskey[1] != l && lskey[2] != l ->
		alive[l] = 0;
		erem[l] = 0
	:: else
	fi
}

#ifdef MUT_OWN_LEASE
/* The control plane's own lease: renewed while the agent runs, regranted when lost (controld
 * opens a new one), stalled for good by one fault. */
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
#endif

inline model_tick() {
	gate(0); gate(1); gate(2);
	unowned(0); unowned(1); unowned(2); unowned(3); unowned(4); unowned(5);
#ifdef MUT_OWN_LEASE
	ticklease(6); ticklease(7); ticklease(8);
	ownlease(0); ownlease(1); ownlease(2);
	if
	:: budget > 0 && !ownstall[0] -> budget--; ownstall[0] = 1; printf("t=%d node 0: control plane keepAlive stalls\n", tnow)
	:: budget > 0 && !ownstall[1] -> budget--; ownstall[1] = 1; printf("t=%d node 1: control plane keepAlive stalls\n", tnow)
	:: budget > 0 && !ownstall[2] -> budget--; ownstall[2] = 1; printf("t=%d node 2: control plane keepAlive stalls\n", tnow)
	:: skip
	fi
#endif
}

#define BAD(n) (recov[n] && inls[n])

ltl slotsafe { [] !(BAD(0) || BAD(1) || BAD(2)) }

/* How late a node that can write is reset, against its session's D (see activation.pml). */
#define LATE(n, x) (inls[n] && (!sfile[n] || drem[n] < (x)))
#define LATEANY(x) (LATE(0, x) || LATE(1, x) || LATE(2, x))
ltl resetm { [] !LATEANY(MARGIN) }
ltl safe { [] !(BAD(0) || BAD(1) || BAD(2) || LATEANY(MARGIN)) }

/* The start: every node runs with a fresh session and has joined the lockspace. */
active proctype main() {
	atomic {
		startnodes();
#ifdef MUT_OWN_LEASE
		alive[OWN(0)] = 1; erem[OWN(0)] = TTL;
		alive[OWN(1)] = 1; erem[OWN(1)] = TTL;
		alive[OWN(2)] = 1; erem[OWN(2)] = TTL;
#endif
		lskey[0] = KEYLEASE(0); inls[0] = 1;
		lskey[1] = KEYLEASE(1); inls[1] = 1;
		lskey[2] = KEYLEASE(2); inls[2] = 1;
#ifdef ISOLATE0
		part[0] = 1;
#endif
		skip
	};
	world()
}
