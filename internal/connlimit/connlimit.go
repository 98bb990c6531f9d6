// Package connlimit caps the connections an HTTP server holds open without
// letting idle or slow clients take every slot.
//
// Prometheus caps them with netutil.LimitListener: past --web.max-connections
// the listener stops accepting, so 512 connections that never finish their
// headers (slowloris) or sit idle between keep-alive requests lock every
// other client out, the UI included, until they time out. Listener keeps the
// same cap, but when it is full it closes the connection that has gone
// longest without a request being served, and only when every connection is
// serving a request does a new one wait, as with LimitListener.
//
// A connection is not closed in its first moments (the grace, a second in
// the server): a new client gets that long to send its request, and clients
// that reconnect as fast as they are closed churn at most max connections a
// grace instead of as fast as the CPU accepts, pushing a real client's
// connection out before it has spoken.
package connlimit

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Listener is a net.Listener that holds at most max connections open.
// Install ConnState and ConnContext on the http.Server that serves it, and
// wrap its handler with Handler: they tell which connections are serving a
// request. Without them none is, and any may be closed to make room.
type Listener struct {
	net.Listener
	max   int
	grace time.Duration

	mu     sync.Mutex
	cond   *sync.Cond
	conns  map[*conn]struct{}
	closed bool

	evicted atomic.Uint64
}

// DefaultGrace is how long a connection is safe from being closed to make
// room after it is accepted or goes idle.
const DefaultGrace = time.Second

// NewListener limits ln to max open connections (max must be positive); a
// connection without a request in progress may be closed to make room once
// grace has passed since it was accepted or went idle.
func NewListener(ln net.Listener, max int, grace time.Duration) *Listener {
	l := &Listener{Listener: ln, max: max, grace: grace, conns: map[*conn]struct{}{}}
	l.cond = sync.NewCond(&l.mu)
	return l
}

// conn is one accepted connection and what the server is doing with it.
type conn struct {
	net.Conn
	l *Listener

	// Guarded by l.mu.
	serving bool      // a request reached the handler and has not finished
	since   time.Time // accepted, or last became idle
	gone    bool      // closed or evicted: no longer counted

	closeOnce sync.Once
}

// Accept waits for a connection and, when max are already open, makes room
// by closing the one that has waited longest without a request in its
// handler: a client still sending its headers, or an idle keep-alive one.
// When all of them are serving requests it waits for one to finish.
func (l *Listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	for len(l.conns) >= l.max && !l.closed {
		victim := l.oldestUnserved()
		if victim == nil {
			l.cond.Wait()
			continue
		}
		if wait := time.Until(victim.since.Add(l.grace)); wait > 0 {
			// Wake when its grace ends, or sooner for a close.
			t := time.AfterFunc(wait, func() {
				l.mu.Lock()
				l.cond.Broadcast()
				l.mu.Unlock()
			})
			l.cond.Wait()
			t.Stop()
			continue
		}
		l.forget(victim)
		l.evicted.Add(1)
		l.mu.Unlock()
		_ = victim.Conn.Close()
		l.mu.Lock()
	}
	if l.closed {
		l.mu.Unlock()
		_ = nc.Close()
		return nil, net.ErrClosed
	}
	c := &conn{Conn: nc, l: l, since: time.Now()}
	l.conns[c] = struct{}{}
	l.mu.Unlock()
	return c, nil
}

// oldestUnserved returns the open connection with no request in a handler
// that has been in that state longest, or nil. Called with l.mu held.
func (l *Listener) oldestUnserved() *conn {
	var oldest *conn
	for c := range l.conns {
		if !c.serving && (oldest == nil || c.since.Before(oldest.since)) {
			oldest = c
		}
	}
	return oldest
}

// forget stops counting c and wakes an Accept waiting for room. Called
// with l.mu held.
func (l *Listener) forget(c *conn) {
	if c.gone {
		return
	}
	c.gone = true
	delete(l.conns, c)
	l.cond.Broadcast()
}

// Close closes the listener and releases an Accept waiting for room.
func (l *Listener) Close() error {
	l.mu.Lock()
	l.closed = true
	l.cond.Broadcast()
	l.mu.Unlock()
	return l.Listener.Close()
}

// Open is the number of connections open now.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// Evicted is the number of connections closed to make room.
func (l *Listener) Evicted() uint64 { return l.evicted.Load() }

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() {
		c.l.mu.Lock()
		c.l.forget(c)
		c.l.mu.Unlock()
	})
	return err
}

// unwrap finds the Listener's conn under a TLS connection.
func unwrap(nc net.Conn) *conn {
	for nc != nil {
		if c, ok := nc.(*conn); ok {
			return c
		}
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		nc = u.NetConn()
	}
	return nil
}

// ConnState is for http.Server.ConnState: a connection that goes idle, or
// is hijacked, changes whether it may be closed to make room.
func (l *Listener) ConnState(nc net.Conn, state http.ConnState) {
	c := unwrap(nc)
	if c == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch state {
	case http.StateIdle:
		c.serving = false
		c.since = time.Now()
		l.cond.Broadcast()
	case http.StateHijacked:
		// The handler owns it now, whatever it does with it.
		c.serving = true
	case http.StateClosed:
		l.forget(c)
	}
}

type ctxKey struct{}

// ConnContext is for http.Server.ConnContext: it lets Handler find the
// connection a request came on.
func (l *Listener) ConnContext(ctx context.Context, nc net.Conn) context.Context {
	if c := unwrap(nc); c != nil {
		return context.WithValue(ctx, ctxKey{}, c)
	}
	return ctx
}

// Handler marks the connection as serving from the moment a request reaches
// next until the connection goes idle (after the response is written), so
// that a request is never cut off to make room.
func (l *Listener) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := r.Context().Value(ctxKey{}).(*conn); ok {
			l.mu.Lock()
			c.serving = true
			l.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}
