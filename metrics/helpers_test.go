package metrics_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/moatmail/moat/metrics"
)

// serve runs h on a real listener on 127.0.0.1 until the test ends and
// returns its base URL.
func serve(t testing.TB, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- metrics.Serve(ctx, l, h) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after its context ended")
		}
	})
	return "http://" + l.Addr().String()
}

// get fetches url and returns the status and body.
func get(t testing.TB, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// scrape is one parsed scrape of /metrics.
type scrape map[string]*dto.MetricFamily

// scrapeURL fetches base/metrics and parses the text exposition.
func scrapeURL(t testing.TB, base string) scrape {
	t.Helper()
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d: %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing the exposition: %v\n%s", err, body)
	}
	return fams
}

// find returns the metric of family name whose labels are exactly labels
// (name=value pairs).
func (s scrape) find(name string, labels ...string) (*dto.Metric, error) {
	fam, ok := s[name]
	if !ok {
		return nil, errors.New("no family " + name)
	}
	want := make(map[string]string)
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, m := range fam.GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		for _, l := range m.GetLabel() {
			if v, ok := want[l.GetName()]; !ok || v != l.GetValue() {
				continue next
			}
		}
		return m, nil
	}
	return nil, errors.New("no series " + name + "{" + strings.Join(labels, ",") + "}")
}

// value returns the value of a counter or gauge series, failing the test
// when it is missing.
func (s scrape) value(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	m, err := s.find(name, labels...)
	if err != nil {
		t.Fatalf("%v (have %v)", err, s.names())
		return 0
	}
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	t.Fatalf("%s is not a counter or gauge", name)
	return 0
}

// histogram returns the sample count and sum of a histogram series.
func (s scrape) histogram(t testing.TB, name string, labels ...string) (uint64, float64) {
	t.Helper()
	m, err := s.find(name, labels...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	h := m.GetHistogram()
	if h == nil {
		t.Fatalf("%s is not a histogram", name)
	}
	return h.GetSampleCount(), h.GetSampleSum()
}

// series counts the series of a family (0 when absent).
func (s scrape) series(name string) int {
	return len(s[name].GetMetric())
}

func (s scrape) names() []string {
	var out []string
	for n := range s {
		if strings.HasPrefix(n, metrics.Namespace+"_") {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
