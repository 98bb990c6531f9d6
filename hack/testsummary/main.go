// Command testsummary runs `go test -json` (or reads its output from
// standard input) and prints what plain `go test` prints, without the logs
// of passing tests: a line per package (ok, FAIL, no test files), the output
// of each failed test, build errors. At the end it lists every skipped test
// with its reason, then one line
//
//	N passed, N failed, N skipped
//
// which CI's result reader recognises. A package that fails without a
// failed test (a build error, a TestMain that exits, a panic or time-out
// outside a test) counts as one failed test, and so does a non-zero exit of
// the command with nothing failed in its output, so that failed is 0 only
// when everything ran and passed. The exit status is 1 when failed is not 0.
//
// Usage (make unit):
//
//	go run ./hack/testsummary go test -race -count=1 -json ./...
//	go test -json ./... | go run ./hack/testsummary
//
// It uses the standard library only.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run runs the command args (or reads stdin when there is none), prints the
// summary to stdout and returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	in := stdin
	var cmd *exec.Cmd
	if len(args) > 0 {
		cmd = exec.Command(args[0], args[1:]...)
		cmd.Stdin, cmd.Stderr = stdin, stderr
		out, err := cmd.StdoutPipe()
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			fmt.Fprintln(stderr, "testsummary:", err)
			return 2
		}
		in = out
	}
	s := newSummary(stdout)
	if err := s.read(in); err != nil {
		s.commandFailed("reading the test output: " + err.Error())
	}
	if cmd != nil {
		if err := cmd.Wait(); err != nil && s.failed == 0 {
			s.commandFailed(fmt.Sprintf("%s: %v", strings.Join(cmd.Args, " "), err))
		}
	}
	s.finish()
	if s.failed > 0 {
		return 1
	}
	return 0
}

// event is one line of `go test -json` (see `go doc test2json`).
type event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	ImportPath  string // build-output and build-fail
	FailedBuild string // a package's fail, when its build failed
}

// test is what a test printed and how it ended ("" while running).
type test struct {
	name   string
	output []string
	action string
}

// pkg is a package being tested.
type pkg struct {
	tests   map[string]*test // by key: the name, or name#N for its Nth rerun
	current map[string]*test // by name: the run the next event belongs to
	reruns  map[string]int
	order   []string // keys, in the order the tests started
	output  []string // the package's own lines: ok/FAIL, TestMain, panics
}

// skipped is a skipped test and why.
type skipped struct{ pkg, test, reason string }

// summary reads events and prints as packages finish.
type summary struct {
	out                     io.Writer
	pkgs                    map[string]*pkg
	pkgOrder                []string
	builds                  map[string][]string // build output by ImportPath
	printedBuilds           map[string]bool
	skips                   []skipped
	problems                []string // failures that are not a failed test
	passed, failed, skipCnt int
}

func newSummary(out io.Writer) *summary {
	return &summary{out: out, pkgs: map[string]*pkg{}, builds: map[string][]string{}, printedBuilds: map[string]bool{}}
}

// read consumes the stream; lines that are not JSON are printed as they are.
func (s *summary) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil || e.Action == "" {
			fmt.Fprintln(s.out, string(line))
			continue
		}
		s.event(e)
	}
	return sc.Err()
}

func (s *summary) pkg(name string) *pkg {
	p, ok := s.pkgs[name]
	if !ok {
		p = &pkg{tests: map[string]*test{}, current: map[string]*test{}, reruns: map[string]int{}}
		s.pkgs[name] = p
		s.pkgOrder = append(s.pkgOrder, name)
	}
	return p
}

func (s *summary) event(e event) {
	switch e.Action {
	case "build-output":
		s.builds[e.ImportPath] = append(s.builds[e.ImportPath], e.Output)
		return
	case "build-fail":
		return
	}
	p := s.pkg(e.Package)
	if e.Test == "" {
		switch e.Action {
		case "output":
			p.output = append(p.output, e.Output)
		case "pass", "fail", "skip":
			s.packageDone(e, p)
		}
		return
	}
	t, ok := p.current[e.Test]
	if !ok || e.Action == "run" && t.action != "" {
		// A test run again (-count=3) is a test of its own: a third run
		// that fails, or dies in a time-out, must not hide behind the
		// first run's pass.
		key := e.Test
		if ok {
			p.reruns[e.Test]++
			key = fmt.Sprintf("%s#%d", e.Test, p.reruns[e.Test])
		}
		t = &test{name: e.Test}
		p.tests[key] = t
		p.current[e.Test] = t
		p.order = append(p.order, key)
	}
	switch e.Action {
	case "output":
		t.output = append(t.output, e.Output)
	case "pass", "fail", "skip":
		t.action = e.Action
	}
}

// framework lines are the testing package's own: not worth repeating.
var frameworkRE = regexp.MustCompile(`^\s*(=== (RUN|PAUSE|CONT|NAME)|--- (PASS|SKIP))\b`)

// packageDone prints a finished package as plain `go test` would and counts
// its tests.
func (s *summary) packageDone(e event, p *pkg) {
	failedTests := 0
	for _, name := range p.order {
		t := p.tests[name]
		switch t.action {
		case "pass":
			s.passed++
		case "skip":
			s.skipCnt++
			s.skips = append(s.skips, skipped{e.Package, name, skipReason(t.output)})
		default: // "fail", or never finished (the package died under it)
			s.failed++
			failedTests++
			for _, l := range t.output {
				if !frameworkRE.MatchString(l) {
					fmt.Fprint(s.out, l)
				}
			}
			if t.action == "" {
				fmt.Fprintf(s.out, "--- FAIL: %s (did not finish)\n", name)
			}
		}
	}
	if e.Action != "fail" {
		// ok, or no test files: only the package's line.
		for _, l := range p.output {
			if strings.HasPrefix(l, "ok  ") || strings.HasPrefix(l, "?   ") {
				fmt.Fprint(s.out, l)
			}
		}
	} else {
		if e.FailedBuild != "" && !s.printedBuilds[e.FailedBuild] {
			s.printedBuilds[e.FailedBuild] = true
			for _, l := range s.builds[e.FailedBuild] {
				fmt.Fprint(s.out, l)
			}
		}
		for _, l := range p.output {
			fmt.Fprint(s.out, l)
		}
		if failedTests == 0 {
			why := "failed outside its tests"
			if e.FailedBuild != "" {
				why = "build failed"
			}
			s.failed++
			s.problems = append(s.problems, e.Package+": "+why)
		}
	}
	delete(s.pkgs, e.Package)
}

// countsRE is the last line, the one CI's result reader looks for.
var countsRE = regexp.MustCompile(`^\d+ passed, \d+ failed, \d+ skipped$`)

// fileLineRE is the file:line: prefix of a t.Log line.
var fileLineRE = regexp.MustCompile(`^\s*[\w.-]+\.go:\d+: `)

// skipReason is the last line a skipped test printed (t.Skip's message),
// without its file:line.
func skipReason(output []string) string {
	for i := len(output) - 1; i >= 0; i-- {
		l := strings.TrimSpace(output[i])
		if l == "" || frameworkRE.MatchString(output[i]) {
			continue
		}
		return strings.TrimSpace(fileLineRE.ReplaceAllString(output[i], ""))
	}
	return "(no reason given)"
}

// commandFailed counts a failure that no test reported.
func (s *summary) commandFailed(why string) {
	s.failed++
	s.problems = append(s.problems, why)
}

// finish reports packages that never finished, the skipped tests, other
// failures and the counts.
func (s *summary) finish() {
	for _, name := range s.pkgOrder {
		p, ok := s.pkgs[name]
		if !ok {
			continue
		}
		p.output = append(p.output, fmt.Sprintf("FAIL\t%s [did not finish]\n", name))
		s.packageDone(event{Action: "fail", Package: name}, p)
	}
	if len(s.skips) > 0 {
		sort.SliceStable(s.skips, func(i, j int) bool { return s.skips[i].pkg < s.skips[j].pkg })
		fmt.Fprintln(s.out)
		fmt.Fprintln(s.out, "Skipped:")
		for _, k := range s.skips {
			fmt.Fprintf(s.out, "--- SKIP: %s %s: %s\n", k.pkg, k.test, k.reason)
		}
	}
	if len(s.problems) > 0 {
		fmt.Fprintln(s.out)
		fmt.Fprintln(s.out, "Failed outside a test:")
		for _, p := range s.problems {
			fmt.Fprintf(s.out, "FAIL %s\n", p)
		}
	}
	fmt.Fprintf(s.out, "\n%d passed, %d failed, %d skipped\n", s.passed, s.failed, s.skipCnt)
}
