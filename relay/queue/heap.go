package queue

import "container/heap"

// msgHeap orders idle messages by next attempt time. Under Queue.mu.
type msgHeap []*message

func (h msgHeap) Len() int           { return len(h) }
func (h msgHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h msgHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}

// Push implements heap.Interface; use push.
func (h *msgHeap) Push(x any) {
	m := x.(*message)
	m.heapIdx = len(*h)
	*h = append(*h, m)
}

// Pop implements heap.Interface; use popMin.
func (h *msgHeap) Pop() any {
	old := *h
	m := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	m.heapIdx = -1
	return m
}

func (h *msgHeap) push(m *message) { heap.Push(h, m) }

func (h *msgHeap) popMin() *message { return heap.Pop(h).(*message) }

// remove takes m out of the heap if it is in it.
func (h *msgHeap) remove(m *message) {
	if m.heapIdx >= 0 {
		heap.Remove(h, m.heapIdx)
	}
}

// fix restores the order after m.next changed.
func (h *msgHeap) fix(m *message) {
	if m.heapIdx >= 0 {
		heap.Fix(h, m.heapIdx)
	}
}
