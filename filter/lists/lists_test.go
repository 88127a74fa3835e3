package lists

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"reflect"
	"testing"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/policies"
)

func newPolicy(t *testing.T, allow, block policies.Lists) *policies.Policy {
	t.Helper()
	p, err := policies.NewPolicy(policies.PolicyConfig{Allow: allow, Block: block})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func testPolicy(t *testing.T) *policies.Policy {
	return newPolicy(t,
		policies.Lists{Networks: []string{"192.0.2.0/24"}, Senders: []string{"partner.example"}, Helos: []string{"mx.partner.example"}},
		policies.Lists{Networks: []string{"2001:db8:bad::/48", "192.0.2.66"}, Senders: []string{"spam@bulk.example"}, Helos: []string{"ylmf-pc"}},
	)
}

func names(syms []filter.Symbol) []string {
	var out []string
	for _, s := range syms {
		out = append(out, s.Name)
	}
	return out
}

func TestCheck(t *testing.T) {
	t.Parallel()
	p := testPolicy(t)
	c := New(func() *policies.Policy { return p })
	tests := []struct {
		name  string
		stage filter.Stage
		txn   *filter.Txn
		want  []filter.Symbol
	}{
		{
			name: "connect: allowed IP", stage: filter.StageConnect,
			txn:  &filter.Txn{ClientIP: netip.MustParseAddr("192.0.2.7")},
			want: []filter.Symbol{{Name: AllowIP, Score: -20, Reason: "client IP 192.0.2.7 is in policy.allow.networks"}},
		},
		{
			name: "connect: blocked IPv6", stage: filter.StageConnect,
			txn:  &filter.Txn{ClientIP: netip.MustParseAddr("2001:db8:bad::25")},
			want: []filter.Symbol{{Name: BlockIP, Score: 20, Reason: "client IP 2001:db8:bad::25 is in policy.block.networks"}},
		},
		{
			name: "connect: on both lists", stage: filter.StageConnect,
			txn: &filter.Txn{ClientIP: netip.MustParseAddr("192.0.2.66")},
			want: []filter.Symbol{
				{Name: AllowIP, Score: -20, Reason: "client IP 192.0.2.66 is in policy.allow.networks"},
				{Name: BlockIP, Score: 20, Reason: "client IP 192.0.2.66 is in policy.block.networks"},
			},
		},
		{
			name: "connect: unlisted", stage: filter.StageConnect,
			txn: &filter.Txn{ClientIP: netip.MustParseAddr("127.0.0.1")},
		},
		{
			name: "connect: no address", stage: filter.StageConnect,
			txn: &filter.Txn{},
		},
		{
			name: "helo: allowed", stage: filter.StageHelo,
			txn:  &filter.Txn{Helo: "MX.Partner.example"},
			want: []filter.Symbol{{Name: AllowHelo, Score: -20, Reason: "HELO name MX.Partner.example is in policy.allow.helos"}},
		},
		{
			name: "helo: blocked", stage: filter.StageHelo,
			txn:  &filter.Txn{Helo: "ylmf-pc"},
			want: []filter.Symbol{{Name: BlockHelo, Score: 20, Reason: "HELO name ylmf-pc is in policy.block.helos"}},
		},
		{
			name: "helo: the client IP is not looked at", stage: filter.StageHelo,
			txn: &filter.Txn{ClientIP: netip.MustParseAddr("192.0.2.7"), Helo: "other.example"},
		},
		{
			name: "mail: allowed by domain", stage: filter.StageMail,
			txn:  &filter.Txn{MailFrom: "news@lists.partner.example"},
			want: []filter.Symbol{{Name: AllowSender, Score: -20, Reason: "sender news@lists.partner.example matches policy.allow.senders"}},
		},
		{
			name: "mail: blocked address", stage: filter.StageMail,
			txn:  &filter.Txn{MailFrom: "Spam@Bulk.example"},
			want: []filter.Symbol{{Name: BlockSender, Score: 20, Reason: "sender Spam@Bulk.example matches policy.block.senders"}},
		},
		{
			name: "mail: other address of a blocked one's domain", stage: filter.StageMail,
			txn: &filter.Txn{MailFrom: "info@bulk.example"},
		},
		{
			name: "mail: null sender", stage: filter.StageMail,
			txn: &filter.Txn{MailFrom: "", Helo: "ylmf-pc"},
		},
		{
			name: "data: nothing to do", stage: filter.StageData,
			txn: &filter.Txn{ClientIP: netip.MustParseAddr("192.0.2.66"), MailFrom: "spam@bulk.example"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := c.Check(context.Background(), tc.txn, tc.stage)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("symbols = %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestCheckFollowsReload(t *testing.T) {
	t.Parallel()
	live := policies.NewLive(newPolicy(t, policies.Lists{}, policies.Lists{}))
	c := New(live.Load)
	txn := &filter.Txn{Helo: "ylmf-pc"}
	if syms, _ := c.Check(context.Background(), txn, filter.StageHelo); len(syms) != 0 {
		t.Fatalf("before reload: %v", names(syms))
	}
	live.Store(newPolicy(t, policies.Lists{}, policies.Lists{Helos: []string{"ylmf-pc"}}))
	if syms, _ := c.Check(context.Background(), txn, filter.StageHelo); !reflect.DeepEqual(names(syms), []string{BlockHelo}) {
		t.Fatalf("after reload: %v", names(syms))
	}
}

func TestCheckInPipeline(t *testing.T) {
	t.Parallel()
	p := testPolicy(t)
	c := New(func() *policies.Policy { return p })
	if c.Name() != "lists" {
		t.Errorf("Name() = %q", c.Name())
	}
	pl := filter.NewPipeline([]filter.Check{c}, 0, slog.New(slog.NewTextHandler(io.Discard, nil)))
	txn := &filter.Txn{
		ClientIP: netip.MustParseAddr("2001:db8:bad::1"),
		Helo:     "ylmf-pc",
		MailFrom: "spam@bulk.example",
		Rcpts:    []string{"u@example.com"},
	}
	pl.RunAll(context.Background(), txn)
	want := []string{BlockIP, BlockHelo, BlockSender}
	if got := names(txn.Symbols()); !reflect.DeepEqual(got, want) {
		t.Errorf("symbols = %v, want %v", got, want)
	}
	// With the default ladder a block list hit alone rejects.
	def, err := policies.NewPolicy(policies.Default().Policy)
	if err != nil {
		t.Fatal(err)
	}
	one := &filter.Txn{Helo: "ylmf-pc"}
	one.Add(mustCheck(t, c, one, filter.StageHelo)...)
	if v := def.Evaluate(one); v.Action != policies.Reject {
		t.Errorf("block list hit alone: %s (score %v)", v.Action, v.Score)
	}
}

func mustCheck(t *testing.T, c *Check, txn *filter.Txn, s filter.Stage) []filter.Symbol {
	t.Helper()
	syms, err := c.Check(context.Background(), txn, s)
	if err != nil {
		t.Fatal(err)
	}
	return syms
}

func TestCheckWithoutPolicy(t *testing.T) {
	t.Parallel()
	c := New(func() *policies.Policy { return nil })
	syms, err := c.Check(context.Background(), &filter.Txn{Helo: "ylmf-pc"}, filter.StageHelo)
	if err != nil || syms != nil {
		t.Errorf("Check with no policy = %v, %v", syms, err)
	}
}
