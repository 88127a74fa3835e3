package rules

// scanner finds which of a fixed set of folded literals occur in a text, in
// one pass over it, whatever their number: an Aho–Corasick automaton turned
// into a full transition table over byte classes. Bytes that occur in no
// literal share class 0, so the table stays small. ASCII letters are folded
// on the fly (see asciiFold); text with other bytes is folded by the caller
// first (foldNonASCII).
type scanner struct {
	class  [256]uint8
	nclass int
	next   []int32   // state*nclass + class → next state*nclass<<1 | has output
	out    [][]int32 // literal ids recognised on entering a state
	nlit   int
}

// newScanner builds the automaton for lits (already folded, non-empty).
// Literal i is reported as id i.
func newScanner(lits []string) *scanner {
	s := &scanner{nlit: len(lits)}
	// Byte classes: one per distinct byte of the literals.
	var byClass [256]uint8
	n := 1
	for _, l := range lits {
		for i := 0; i < len(l); i++ {
			if byClass[l[i]] == 0 {
				if n == 256 {
					break // cannot happen: at most 255 distinct bytes besides class 0
				}
				byClass[l[i]] = uint8(n)
				n++
			}
		}
	}
	for b := range s.class {
		s.class[b] = byClass[asciiFold[b]]
	}
	s.nclass = n

	// The trie. -1 means no edge yet.
	newState := func() int32 {
		for range n {
			s.next = append(s.next, -1)
		}
		s.out = append(s.out, nil)
		return int32(len(s.out) - 1)
	}
	newState() // root
	for id, l := range lits {
		st := int32(0)
		for i := 0; i < len(l); i++ {
			c := int(byClass[l[i]])
			nx := s.next[int(st)*n+c]
			if nx < 0 {
				nx = newState()
				s.next[int(st)*n+c] = nx
			}
			st = nx
		}
		s.out[st] = append(s.out[st], int32(id))
	}

	// Breadth-first: failure links and the full transition table.
	fail := make([]int32, len(s.out))
	queue := make([]int32, 0, len(s.out))
	for c := range n {
		nx := s.next[c]
		if nx < 0 {
			s.next[c] = 0
			continue
		}
		fail[nx] = 0
		queue = append(queue, nx)
	}
	for len(queue) > 0 {
		st := queue[0]
		queue = queue[1:]
		s.out[st] = append(s.out[st], s.out[fail[st]]...)
		for c := range n {
			i := int(st)*n + c
			nx := s.next[i]
			if nx < 0 {
				s.next[i] = s.next[int(fail[st])*n+c]
				continue
			}
			fail[nx] = s.next[int(fail[st])*n+c]
			queue = append(queue, nx)
		}
	}
	// Pre-multiply the targets by the row width and flag the ones with
	// outputs in the low bit, so the scan loop does one load per byte.
	for i, nx := range s.next {
		v := nx * int32(n) << 1
		if s.out[nx] != nil {
			v |= 1
		}
		s.next[i] = v
	}
	return s
}

// maxPositions is how many occurrences of each literal scan records.
const maxPositions = 256

// occurrence is where one literal occurred.
type occurrence struct {
	id  int32 // literal id
	end int32 // index of its last byte
}

// scanHits records, for each literal, how many times it occurred (counted
// up to maxPositions+1), and the first maxPositions occurrences of each in
// text order.
type scanHits struct {
	count []uint16
	occ   []occurrence
}

// reset prepares h for a scanner of nlit literals, reusing its storage.
func (h *scanHits) reset(nlit int) {
	if cap(h.count) < nlit {
		h.count = make([]uint16, nlit)
	} else {
		h.count = h.count[:nlit]
		clear(h.count)
	}
	h.occ = h.occ[:0]
}

// found reports whether literal id occurred.
func (h *scanHits) found(id int) bool { return h.count[id] > 0 }

// complete reports whether every occurrence of literal id is recorded.
func (h *scanHits) complete(id int) bool { return h.count[id] <= maxPositions }

// scan records the occurrences of every literal in text (folded as
// described on scanner).
func (s *scanner) scan(text []byte, h *scanHits) {
	if s == nil || s.nlit == 0 {
		return
	}
	n := int32(s.nclass)
	row := int32(0) // the current state's first index in next
	next, class := s.next, &s.class
	for i, b := range text {
		v := next[row+int32(class[b])]
		row = v >> 1
		if v&1 != 0 {
			for _, id := range s.out[row/n] {
				switch c := h.count[id]; {
				case c < maxPositions:
					h.occ = append(h.occ, occurrence{id: id, end: int32(i)})
					h.count[id] = c + 1
				case c == maxPositions:
					h.count[id] = c + 1
				}
			}
		}
	}
}
