//go:build e2e

// End-to-end tests: they build the moat binary once, start it as a
// subprocess with a temporary configuration on random loopback ports, and
// drive it with real SMTP clients (swaks, Python's smtplib and raw sockets in
// testdata/*.py). Accepted mail is relayed to a downstream test server (a
// go-smtp server inside the test process) that records what it receives.
//
// Run with: go test -tags e2e -count=1 ./cmd/moat/...
// swaks and python3 must be installed; without them the tests that need
// them are skipped, unless CI is set in the environment, where they fail.
package main_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moatmail/moat/filter/dnsx/dnstest"
)

// Bounds on every wait in these tests.
const (
	startTimeout  = 20 * time.Second // moat's listener answering 220
	stopTimeout   = 10 * time.Second // SIGTERM until the process is gone
	clientTimeout = 60 * time.Second // one swaks/python/moat CLI run
	logTimeout    = 10 * time.Second // a log line we wait for
)

// moatBin is the binary TestMain builds; read-only once tests run.
var moatBin string

// dnsAddr is the in-process DNS server every moat instance of the tests
// uses (dns.servers), serving the DNS list test zones: 127.0.0.2 is listed
// in bl.test, 127.0.0.1 is listed nowhere. Read-only once tests run.
var dnsAddr string

// dnsZones are the zone files the test DNS server serves.
var dnsZones = []string{
	"../../filter/dnsbl/testdata/bl.test.zone",
	"../../filter/dnsbl/testdata/127.in-addr.arpa.zone",
	"../../filter/dnsbl/testdata/good.test.zone",
}

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "moat-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	moatBin = filepath.Join(dir, "moat")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", moatBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building moat: %v\n%s", err, out)
		return 1
	}
	dnsSrv, err := dnstest.New(dnsZones...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: DNS server:", err)
		return 1
	}
	defer dnsSrv.Close()
	dnsAddr = dnsSrv.Addr()
	return m.Run()
}

// requireTool skips the test when an external client is missing, or fails
// it when running in CI (CI set), where .ci/run installs it.
func requireTool(t *testing.T, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (apt-get install %s); e2e tests need it in CI", name, pkg)
		}
		t.Skipf("%s is not installed; skipping (apt-get install %s to run this test)", name, pkg)
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// ---- moat's log -------------------------------------------------------

// logBuf collects moat's stderr and wakes waiters on every write.
type logBuf struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newLogBuf() *logBuf { return &logBuf{changed: make(chan struct{})} }

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// lines returns the complete log lines containing every one of subs.
func (l *logBuf) lines(subs ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
next:
	for sc.Scan() {
		for _, s := range subs {
			if !strings.Contains(sc.Text(), s) {
				continue next
			}
		}
		out = append(out, sc.Text())
	}
	return out
}

// waitLines waits until at least n log lines contain every one of subs, or
// exited is closed, or the timeout passes; it returns those lines.
func (l *logBuf) waitLines(t *testing.T, exited <-chan struct{}, n int, subs ...string) []string {
	t.Helper()
	deadline := time.NewTimer(logTimeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		ch := l.changed
		l.mu.Unlock()
		if got := l.lines(subs...); len(got) >= n {
			return got
		}
		select {
		case <-ch:
		case <-exited:
			if got := l.lines(subs...); len(got) >= n {
				return got
			}
			t.Fatalf("moat exited while waiting for %d log line(s) with %q; log:\n%s", n, subs, l)
		case <-deadline.C:
			t.Fatalf("no %d log line(s) with %q after %v; log:\n%s", n, subs, logTimeout, l)
		}
	}
}

// ---- the moat process -------------------------------------------------

// moatProc is one running `moat serve -c cfg`.
type moatProc struct {
	cmd     *exec.Cmd
	cfgPath string
	dataDir string
	port    int
	log     *logBuf
	exited  chan struct{}
	waitErr error
}

// addr is moat's SMTP address.
func (p *moatProc) addr() string { return fmt.Sprintf("127.0.0.1:%d", p.port) }

// cfgParams fill in the configuration template. Limits and Policy are YAML
// blocks written at column 0; they go under limits: and policy:.
type cfgParams struct {
	Port     int
	DataDir  string
	Sink     string // relay.test's downstream
	DeadPort int    // down.test's downstream: nothing listens there
	Limits   string
	Policy   string
	// Extra is more top-level YAML (at column 0), such as a dnsbl: or
	// greylist: section.
	Extra string
	// IMAPPort and POP3Port, when not 0, serve the store on them.
	IMAPPort, POP3Port int
	// Listen, when set, replaces the listen: section (indented block).
	Listen string
}

// configYAML renders a complete moat.yaml for the tests: relay.test relays
// to the sink before-queue, down.test to a closed port; queue.test and
// qdown.test are the same through the durable queue; local.test is
// delivered to the store.
func configYAML(p cfgParams) string {
	listen := p.Listen
	if listen == "" {
		listen = fmt.Sprintf("smtp: [\"127.0.0.1:%d\"]\nimap: [%s]\npop3: [%s]\n", p.Port, portList(p.IMAPPort), portList(p.POP3Port))
	}
	return fmt.Sprintf(`# moat e2e test configuration
hostname: moat.e2e.test
data_dir: %q
listen:
%sdomains:
  relay.test:
    deliver: relay
    relay: %q
    mode: proxy
  down.test:
    deliver: relay
    relay: "127.0.0.1:%d"
    mode: proxy
  queue.test:
    deliver: relay
    relay: %[3]q
  qdown.test:
    deliver: relay
    relay: "127.0.0.1:%[4]d"
  local.test:
    deliver: local
dns:
  servers: [%q]
  timeout: 1s
limits:
  command_timeout: 30s
  data_timeout: 30s
  relay_timeout: 10s
  check_timeout: 5s
%slog:
  level: info
  format: text
%s%s`, p.DataDir, indent(listen), p.Sink, p.DeadPort, dnsAddr, indent(p.Limits), policyBlock(p.Policy), extraBlock(p.Extra))
}

// portList renders a loopback listener list with port, or none for 0.
func portList(port int) string {
	if port == 0 {
		return ""
	}
	return fmt.Sprintf("%q", fmt.Sprintf("127.0.0.1:%d", port))
}

// policyBlock renders the policy: section; an empty one keeps the built-in
// thresholds (add_header 5, junk 8, reject 15).
func policyBlock(block string) string {
	if strings.TrimSpace(block) == "" {
		return "policy: {}\n"
	}
	return "policy:\n" + indent(block)
}

// extraBlock makes sure a top-level YAML block ends in a newline.
func extraBlock(block string) string {
	if strings.TrimSpace(block) == "" {
		return ""
	}
	return strings.TrimRight(block, "\n") + "\n"
}

// indent puts two spaces before every line of a YAML block written at
// column 0 and makes sure it ends in a newline.
func indent(block string) string {
	if strings.TrimSpace(block) == "" {
		return ""
	}
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(block, "\n"), "\n") {
		b.WriteString("  " + line + "\n")
	}
	return b.String()
}

// newConfig writes a configuration for a new moat instance relaying to s (or
// to a closed port when s is nil) and returns its parameters and path.
func newConfig(t *testing.T, s *sink, limits, policy string) (cfgParams, string) {
	t.Helper()
	dir := t.TempDir()
	p := cfgParams{
		Port: freePort(t), DataDir: filepath.Join(dir, "data"), DeadPort: freePort(t),
		Limits: limits, Policy: policy,
	}
	p.Sink = fmt.Sprintf("127.0.0.1:%d", p.DeadPort)
	if s != nil {
		p.Sink = s.addr
	}
	path := filepath.Join(dir, "moat.yaml")
	writeFile(t, path, configYAML(p))
	return p, path
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startMoat starts `moat serve -c cfgPath`, waits until its SMTP port
// answers 220 and stops it (SIGTERM, then SIGKILL) when the test ends.
func startMoat(t *testing.T, p cfgParams, cfgPath string) *moatProc {
	t.Helper()
	mp := &moatProc{cfgPath: cfgPath, dataDir: p.DataDir, port: p.Port, log: newLogBuf(), exited: make(chan struct{})}
	mp.cmd = exec.Command(moatBin, "serve", "-c", cfgPath)
	mp.cmd.Dir = filepath.Dir(cfgPath)
	mp.cmd.Stdout = mp.log
	mp.cmd.Stderr = mp.log
	if err := mp.cmd.Start(); err != nil {
		t.Fatalf("starting moat: %v", err)
	}
	go func() {
		mp.waitErr = mp.cmd.Wait()
		close(mp.exited)
	}()
	t.Cleanup(func() {
		mp.stop(t)
		if t.Failed() {
			t.Logf("moat log:\n%s", mp.log)
		}
	})
	mp.log.waitLines(t, mp.exited, 1, `msg="moat listening"`)
	mp.expectGreeting(t)
	return mp
}

// expectGreeting connects once and requires a 220 greeting.
func (p *moatProc) expectGreeting(t *testing.T) {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.addr(), startTimeout)
	if err != nil {
		t.Fatalf("moat listens but does not accept: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(startTimeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "220") {
		t.Fatalf("greeting = %q, %v; want 220", line, err)
	}
	fmt.Fprint(c, "QUIT\r\n")
}

// signal sends sig to the moat process.
func (p *moatProc) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// alive fails the test if moat has exited.
func (p *moatProc) alive(t *testing.T) {
	t.Helper()
	select {
	case <-p.exited:
		t.Fatalf("moat exited: %v", p.waitErr)
	default:
	}
}

func (p *moatProc) stop(t *testing.T) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-p.exited:
		var ee *exec.ExitError
		if p.waitErr != nil && !errors.As(p.waitErr, &ee) {
			t.Errorf("moat wait: %v", p.waitErr)
		}
		if ee != nil {
			t.Errorf("moat exited with %v after SIGTERM", ee)
		}
	case <-timer.C:
		t.Errorf("moat still running %v after SIGTERM; killing it", stopTimeout)
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// ---- external clients -------------------------------------------------

// runTool runs an external program with a bounded time and returns its
// combined output and exit code; a failure to run at all fails the test.
func runTool(t *testing.T, stdin []byte, name string, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	code := runCmd(t, stdin, &out, &out, name, args...)
	return out.String(), code
}

// runCmd runs a program with a bounded time, its output going to stdout and
// stderr, and returns its exit code.
func runCmd(t *testing.T, stdin []byte, stdout, stderr io.Writer, name string, args ...string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %q: no answer within %v", name, args, clientTimeout)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s: %v", name, err)
	}
	return cmd.ProcessState.ExitCode()
}

// swaks runs swaks against moat. Extra args come after the server, HELO
// and timeout options.
func (p *moatProc) swaks(t *testing.T, args ...string) swaksRun {
	t.Helper()
	requireTool(t, "swaks", "swaks")
	all := append([]string{"--server", p.addr(), "--helo", "swaks.client.e2e.test", "--timeout", "20"}, args...)
	out, code := runTool(t, nil, "swaks", all...)
	return swaksRun{out: out, code: code}
}

// swaksRun is swaks's transcript and exit status.
type swaksRun struct {
	out  string
	code int
}

var swaksReply = regexp.MustCompile(`^\s*<(?:-|\*\*)\s+(\d{3}.*)$`)

// replyAfter returns the server's reply (its last line, without swaks's
// "<- " or "<** " marker) to the first client line starting with prefix,
// or "" when there is none.
func (r swaksRun) replyAfter(prefix string) string {
	lines := strings.Split(strings.ReplaceAll(r.out, "\r", ""), "\n")
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "-> ") || !strings.HasPrefix(strings.ToUpper(l[3:]), strings.ToUpper(prefix)) {
			continue
		}
		last := ""
		for _, m := range lines[i+1:] {
			if sm := swaksReply.FindStringSubmatch(m); sm != nil {
				last = sm[1]
				if len(sm[1]) < 4 || sm[1][3] == ' ' {
					return last
				}
				continue
			}
			if last != "" || strings.HasPrefix(strings.TrimSpace(m), "-> ") {
				break
			}
		}
		return last
	}
	return ""
}

// endOfData returns the reply to the end of the message text (swaks shows
// it after the "-> ." line).
func (r swaksRun) endOfData() string { return r.replyAfter(".") }

// python runs one of the testdata scripts with python3.
func python(t *testing.T, script string, args ...string) string {
	t.Helper()
	requireTool(t, "python3", "python3")
	out, code := runTool(t, nil, "python3", append([]string{filepath.Join("testdata", script)}, args...)...)
	if code != 0 {
		t.Fatalf("python3 %s exited %d:\n%s", script, code, out)
	}
	return out
}
