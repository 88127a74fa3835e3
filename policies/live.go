package policies

import "sync/atomic"

// Live holds the policy in force. Reload stores a new one; transactions load
// the current one when they need it. It is safe for concurrent use.
type Live struct {
	p atomic.Pointer[Policy]
}

// NewLive returns a Live holding p.
func NewLive(p *Policy) *Live {
	l := &Live{}
	l.p.Store(p)
	return l
}

// Load returns the policy in force.
func (l *Live) Load() *Policy { return l.p.Load() }

// Store makes p the policy in force. Transactions that already loaded the
// previous one finish with it.
func (l *Live) Store(p *Policy) { l.p.Store(p) }
