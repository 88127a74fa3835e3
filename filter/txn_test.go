package filter

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

func TestTxnAddDedup(t *testing.T) {
	t.Parallel()
	txn := &Txn{}
	txn.Add(Symbol{Name: "A", Score: 1, Reason: "first"}, Symbol{Name: "B", Score: 2})
	txn.Add(Symbol{Name: "A", Score: 9, Reason: "second"}, Symbol{Name: "C", Score: 3}, Symbol{Name: "C", Score: 4})
	txn.Add()
	want := []Symbol{{Name: "A", Score: 1, Reason: "first"}, {Name: "B", Score: 2}, {Name: "C", Score: 3}}
	if got := txn.Symbols(); !slices.Equal(got, want) {
		t.Fatalf("Symbols = %+v, want %+v (first of each name, in order)", got, want)
	}
	if txn.SymbolCount() != 3 || !txn.Has("C") || txn.Has("D") {
		t.Errorf("SymbolCount = %d, Has(C) = %v, Has(D) = %v", txn.SymbolCount(), txn.Has("C"), txn.Has("D"))
	}
	// Symbols returns a copy.
	got := txn.Symbols()
	got[0].Name = "CHANGED"
	if txn.Symbols()[0].Name != "A" {
		t.Error("modifying the result of Symbols changed the Txn")
	}
}

func TestTxnAddConcurrent(t *testing.T) {
	t.Parallel()
	txn := &Txn{}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			for j := range 50 {
				txn.Add(Symbol{Name: fmt.Sprintf("S%d", (i*50+j)%100)})
				txn.addTiming(Timing{Check: "c"})
			}
		})
	}
	wg.Wait()
	if got := txn.SymbolCount(); got != 100 {
		t.Errorf("SymbolCount = %d, want 100 distinct names", got)
	}
	if got := len(txn.Timings()); got != 1000 {
		t.Errorf("%d timings, want 1000", got)
	}
}

func TestTxnResetMessage(t *testing.T) {
	t.Parallel()
	txn := &Txn{ID: "r1", Helo: "mx.example.org"}
	txn.Add(Symbol{Name: "CONNECT_SYM"}, Symbol{Name: "HELO_SYM"})
	txn.addTiming(Timing{Check: "dnsbl", Stage: StageConnect})
	txn.addTiming(Timing{Check: "helo", Stage: StageHelo})
	keep := txn.SymbolCount()

	txn.MailFrom = "a@example.org"
	txn.Rcpts = []string{"b@example.net"}
	msg, err := NewMessage([]byte("Subject: x\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	txn.Msg = msg
	txn.Add(Symbol{Name: "MAIL_SYM"}, Symbol{Name: "DATA_SYM"})
	txn.addTiming(Timing{Check: "spf", Stage: StageMail})
	txn.addTiming(Timing{Check: "rcpt", Stage: StageRcpt})
	txn.addTiming(Timing{Check: "headers", Stage: StageData})

	txn.ResetMessage(keep)

	if txn.MailFrom != "" || txn.Rcpts != nil || txn.Msg != nil {
		t.Errorf("envelope not reset: MailFrom %q, Rcpts %q, Msg %v", txn.MailFrom, txn.Rcpts, txn.Msg)
	}
	if txn.ID != "r1" || txn.Helo != "mx.example.org" {
		t.Errorf("session state lost: ID %q, Helo %q", txn.ID, txn.Helo)
	}
	if got, want := symbolNames(txn), []string{"CONNECT_SYM", "HELO_SYM"}; !slices.Equal(got, want) {
		t.Errorf("symbols after reset = %q, want %q", got, want)
	}
	var checks []string
	for _, tm := range txn.Timings() {
		checks = append(checks, tm.Check)
	}
	if want := []string{"dnsbl", "helo"}; !slices.Equal(checks, want) {
		t.Errorf("timings after reset = %q, want the connect and helo ones %q", checks, want)
	}
	// A symbol dropped by the reset can be recorded again.
	txn.Add(Symbol{Name: "MAIL_SYM"})
	if !txn.Has("MAIL_SYM") {
		t.Error("MAIL_SYM not recorded after reset")
	}
	// keep past the end keeps everything.
	txn.ResetMessage(100)
	if txn.SymbolCount() != 3 {
		t.Errorf("ResetMessage(100) left %d symbols, want 3", txn.SymbolCount())
	}
}

func TestSymbolName(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"headers", "HEADERS"},
		{"HEADERS", "HEADERS"},
		{"dns-bl", "DNS_BL"},
		{"msg.auth", "MSG_AUTH"},
		{"a  b--c", "A_B_C"},
		{"-lead", "LEAD"},
		{"trail-", "TRAIL"},
		{"__x__", "X"},
		{"zen.spamhaus.org", "ZEN_SPAMHAUS_ORG"},
		{"v2check", "V2CHECK"},
		{"ünïcode", "N_CODE"},
		{"", ""},
		{"---", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := SymbolName(tt.in); got != tt.want {
				t.Errorf("SymbolName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	if got := TempfailSymbol("dns-bl"); got != "DNS_BL_TEMPFAIL" {
		t.Errorf("TempfailSymbol(dns-bl) = %q", got)
	}
}

func TestStage(t *testing.T) {
	t.Parallel()
	var names []string
	for _, s := range AllStages() {
		names = append(names, s.String())
	}
	if want := []string{"connect", "helo", "mail", "rcpt", "data"}; !slices.Equal(names, want) {
		t.Errorf("stages = %q, want %q", names, want)
	}
	if got := Stage(7).String(); got != "stage(7)" {
		t.Errorf("Stage(7) = %q", got)
	}
	if got := Stage(-1).String(); got != "stage(-1)" {
		t.Errorf("Stage(-1) = %q", got)
	}
}
