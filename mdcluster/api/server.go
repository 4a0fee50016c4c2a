package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Backend is what the API serves; the agent implements it.
type Backend interface {
	Status(ctx context.Context) (Status, error)
	Acquire(ctx context.Context, r AcquireRequest) (Grant, error)
	Release(ctx context.Context, r ReleaseRequest) error
}

// HeldError is returned by a Backend when a lease is held by another node.
type HeldError struct {
	Kind, Array, Holder string
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%s lease on %s is held by %s", e.Kind, e.Array, e.Holder)
}

// BadRequest marks a Backend error caused by the request (HTTP 400).
type BadRequest struct{ Msg string }

func (e *BadRequest) Error() string { return e.Msg }

// Server serves the API on a Unix socket.
type Server struct {
	Backend Backend
	Log     *slog.Logger
	// AllowUID is the only peer uid accepted (0, root, by default; tests use their own).
	AllowUID int
	srv      *http.Server
	ln       net.Listener
}

// Listen creates the socket at path with mode 0600 (replacing a stale one) and starts serving.
func (s *Server) Listen(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("api: socket directory: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("api: remove stale socket: %w", err)
	}
	old := unix.Umask(0o177)
	ln, err := net.Listen("unix", path)
	unix.Umask(old)
	if err != nil {
		return fmt.Errorf("api: listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("api: chmod %s: %w", path, err)
	}
	s.ln = ln
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", s.status)
	mux.HandleFunc("POST /v1/acquire", s.acquire)
	mux.HandleFunc("POST /v1/release", s.release)
	s.day2Routes(mux)
	s.srv = &http.Server{Handler: s.checkPeer(mux), ReadHeaderTimeout: 5 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) }}
	go s.srv.Serve(ln)
	return nil
}

// Close stops serving.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Close()
}

type connKey struct{}

// peerKey holds the request's Peer in its context.
type peerKey struct{}

// checkPeer refuses every peer whose uid (SO_PEERCRED) is not AllowUID.
func (s *Server) checkPeer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Context().Value(connKey{}).(*net.UnixConn)
		peer := Peer{PID: -1, UID: -1}
		if c != nil {
			if raw, err := c.SyscallConn(); err == nil {
				raw.Control(func(fd uintptr) {
					if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
						peer = Peer{PID: int(cred.Pid), UID: int(cred.Uid)}
					}
				})
			}
		}
		if peer.UID != s.AllowUID {
			writeErr(w, http.StatusForbidden, Error{Error: fmt.Sprintf("uid %d may not use the mdclusterd API", peer.UID)})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), peerKey{}, peer)))
	})
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.Backend.Status(r.Context())
	if err != nil {
		s.fail(w, "status", err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) acquire(w http.ResponseWriter, r *http.Request) {
	var req AcquireRequest
	if !decode(w, r, &req) {
		return
	}
	if err := checkKind(req.Kind); err != nil {
		writeErr(w, http.StatusBadRequest, Error{Error: err.Error()})
		return
	}
	if req.Array == "" {
		writeErr(w, http.StatusBadRequest, Error{Error: "array: missing"})
		return
	}
	g, err := s.Backend.Acquire(r.Context(), req)
	if err != nil {
		s.fail(w, "acquire", err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (s *Server) release(w http.ResponseWriter, r *http.Request) {
	var req ReleaseRequest
	if !decode(w, r, &req) {
		return
	}
	if err := checkKind(req.Kind); err != nil {
		writeErr(w, http.StatusBadRequest, Error{Error: err.Error()})
		return
	}
	if err := s.Backend.Release(r.Context(), req); err != nil {
		s.fail(w, "release", err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) fail(w http.ResponseWriter, op string, err error) {
	var held *HeldError
	var bad *BadRequest
	switch {
	case errors.As(err, &held):
		writeErr(w, http.StatusConflict, Error{Error: err.Error(), Holder: held.Holder})
	case errors.As(err, &bad):
		writeErr(w, http.StatusBadRequest, Error{Error: err.Error()})
	default:
		s.Log.Error("api "+op, "err", err)
		writeErr(w, http.StatusInternalServerError, Error{Error: err.Error()})
	}
}

func checkKind(k string) error {
	switch k {
	case KindActivation, KindRecovery, KindResync, KindAdmin:
		return nil
	}
	return fmt.Errorf("kind: %q is not one of %s", k, strings.Join([]string{KindActivation, KindRecovery, KindResync, KindAdmin}, ", "))
}

// decode reads one JSON object, rejecting unknown fields and bodies over 64 KiB.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeErr(w, http.StatusBadRequest, Error{Error: "request body: " + err.Error()})
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, e Error) { writeJSON(w, code, e) }
