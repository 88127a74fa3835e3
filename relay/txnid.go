package relay

import (
	"crypto/rand"
	"encoding/base32"
	"strconv"
	"sync/atomic"
)

// idGen makes transaction ids: a random per-process prefix and a counter,
// so ids are unique across restarts and cheap to make.
type idGen struct {
	prefix string
	n      atomic.Uint64
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

func newIDGen() *idGen {
	var b [5]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return &idGen{prefix: idEncoding.EncodeToString(b[:])}
}

// next returns a new transaction id such as "k3j9x2mq4a-1f".
func (g *idGen) next() string {
	return g.prefix + "-" + strconv.FormatUint(g.n.Add(1), 36)
}
