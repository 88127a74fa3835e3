package imap

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// benchMessages is the size of the benchmark mailbox.
const benchMessages = 1000

// benchCorpus returns up to n ham messages of the shared corpus (without
// their mbox "From " lines).
func benchCorpus(b *testing.B, n int) [][]byte {
	b.Helper()
	dir := "/work/shared/corpus/ham"
	if d := os.Getenv("MOAT_CORPUS_HAM"); d != "" {
		dir = d
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil || len(files) == 0 {
		b.Skipf("no corpus in %s", dir)
	}
	sort.Strings(files)
	out := make([][]byte, 0, n)
	for i := 0; len(out) < n; i++ {
		raw := corpusMessage(b, filepath.Base(files[i%len(files)]))
		out = append(out, raw)
	}
	return out
}

// benchTarget is an IMAP server with a mailbox of benchMessages messages,
// and a logged-in client.
type benchTarget struct {
	name    string
	client  *imapclient.Client
	mailbox string
}

// moatTarget fills a real store (appending in parallel, as deliveries
// would) and logs in over loopback; cacheBytes is Options.CacheBytes.
func moatTarget(b *testing.B, name string, msgs [][]byte, cacheBytes int64) benchTarget {
	b.Helper()
	e := newEnv(b, envOptions{cacheBytes: cacheBytes})
	ctx := context.Background()
	var wg sync.WaitGroup
	work := make(chan []byte)
	errs := make(chan error, 1)
	for range 16 {
		wg.Go(func() {
			for raw := range work {
				if _, _, err := e.st.Append(ctx, alice, "INBOX", nil, time.Time{}, bytes.NewReader(raw)); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for _, m := range msgs {
		work <- m
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatalf("append: %v", err)
	default:
	}
	return benchTarget{name: name, client: e.login(b, alice, nil), mailbox: "INBOX"}
}

// externalTarget is another IMAP server named by MOAT_BENCH_IMAP_ADDR
// (with MOAT_BENCH_IMAP_USER and MOAT_BENCH_IMAP_PASS), for instance the
// stand-in Dovecot of shared/bench/clients/standin-dovecot.sh; its
// mailbox MoatBench is recreated and filled over IMAP.
func externalTarget(b *testing.B, msgs [][]byte) (benchTarget, bool) {
	b.Helper()
	addr := os.Getenv("MOAT_BENCH_IMAP_ADDR")
	if addr == "" {
		return benchTarget{}, false
	}
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		b.Fatalf("dial %s: %v", addr, err)
	}
	b.Cleanup(func() { _ = c.Close() })
	if err := c.Login(os.Getenv("MOAT_BENCH_IMAP_USER"), os.Getenv("MOAT_BENCH_IMAP_PASS")).Wait(); err != nil {
		b.Fatalf("login to %s: %v", addr, err)
	}
	const box = "MoatBench"
	_ = c.Delete(box).Wait()
	if err := c.Create(box, nil).Wait(); err != nil {
		b.Fatalf("CREATE %s: %v", box, err)
	}
	for _, m := range msgs {
		appendMsg(b, c, box, m, nil)
	}
	return benchTarget{name: "external", client: c, mailbox: box}, true
}

func benchTargets(b *testing.B) []benchTarget {
	msgs := benchCorpus(b, benchMessages)
	targets := []benchTarget{moatTarget(b, "moat", msgs, 0), moatTarget(b, "moat-uncached", msgs, -1)}
	if ext, ok := externalTarget(b, msgs); ok {
		targets = append(targets, ext)
	}
	return targets
}

// BenchmarkFetchEnvelopes fetches the envelopes of a 1,000-message mailbox
// of corpus mail over loopback.
func BenchmarkFetchEnvelopes(b *testing.B) {
	for _, tg := range benchTargets(b) {
		b.Run(tg.name, func(b *testing.B) {
			c := tg.client
			if _, err := c.Select(tg.mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
				b.Fatal(err)
			}
			set := imap.SeqSet{{Start: 1, Stop: benchMessages}}
			b.ResetTimer()
			for b.Loop() {
				msgs, err := c.Fetch(set, &imap.FetchOptions{Envelope: true}).Collect()
				if err != nil {
					b.Fatal(err)
				}
				if len(msgs) != benchMessages || msgs[0].Envelope == nil {
					b.Fatalf("%d envelopes", len(msgs))
				}
			}
			b.ReportMetric(float64(benchMessages*b.N)/b.Elapsed().Seconds(), "envelopes/s")
		})
	}
}

// BenchmarkSelectFetchStore is a mail client's round: SELECT, FETCH the
// headers of a page of 50 messages, STORE a flag on one of them.
func BenchmarkSelectFetchStore(b *testing.B) {
	for _, tg := range benchTargets(b) {
		b.Run(tg.name, func(b *testing.B) {
			c := tg.client
			opts := &imap.FetchOptions{UID: true, Flags: true, RFC822Size: true, InternalDate: true, Envelope: true}
			i := 0
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.Select(tg.mailbox, nil).Wait(); err != nil {
					b.Fatal(err)
				}
				start := uint32(i%(benchMessages/50))*50 + 1
				msgs, err := c.Fetch(imap.SeqSet{{Start: start, Stop: start + 49}}, opts).Collect()
				if err != nil || len(msgs) != 50 {
					b.Fatalf("FETCH: %d messages, %v", len(msgs), err)
				}
				op := imap.StoreFlagsAdd
				if (i/benchMessages)%2 == 1 {
					op = imap.StoreFlagsDel
				}
				seq := uint32(i%benchMessages) + 1
				if err := c.Store(imap.SeqSetNum(seq), &imap.StoreFlags{Op: op, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rounds/s")
		})
	}
}
