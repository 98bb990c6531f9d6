// Command scrapebench scrapes several exporters in interleaved rounds, the
// way Prometheus does (gzip, its Accept header), and reports per exporter the
// CPU seconds it spent per scrape (from /proc/PID/stat), p50/p99 scrape
// latency, resident memory and series count, with ratios against the last
// target (the peer). It is a benchmark, not a test: run it through
// bench/agent.sh.
package main

import (
	"bufio"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// prometheusAccept is the Accept header Prometheus 2.x scrapes with.
const prometheusAccept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat; it
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

type target struct {
	name, url string
	pid       int
	latencies []time.Duration
	cpuTicks  uint64
	sysTicks  uint64
	scrapes   int
	series    int
	rssKiB    uint64
	hwmKiB    uint64
}

type targetsFlag []*target

func (t *targetsFlag) String() string { return fmt.Sprint(len(*t)) }

func (t *targetsFlag) Set(s string) error {
	// name=URL@PID
	name, rest, ok := strings.Cut(s, "=")
	url, pidS, ok2 := strings.Cut(rest, "@")
	if !ok || !ok2 {
		return fmt.Errorf("target %q: want name=URL@PID", s)
	}
	pid, err := strconv.Atoi(pidS)
	if err != nil {
		return fmt.Errorf("target %q: pid: %w", s, err)
	}
	*t = append(*t, &target{name: name, url: url, pid: pid})
	return nil
}

func main() {
	var targets targetsFlag
	flag.Var(&targets, "target", "name=URL@PID of an exporter to scrape (repeat; the last one is the reference for ratios)")
	rounds := flag.Int("rounds", 10, "interleaved rounds")
	perRound := flag.Int("n", 50, "scrapes per target per round")
	warmup := flag.Int("warmup", 20, "scrapes per target before measuring")
	flag.Parse()
	if len(targets) < 1 {
		fmt.Fprintln(os.Stderr, "scrapebench: give at least one -target name=URL@PID")
		os.Exit(2)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	for _, t := range targets {
		for range *warmup {
			if _, _, err := scrape(client, t.url); err != nil {
				fail(err)
			}
		}
	}
	for range *rounds {
		for _, t := range targets {
			before, sysBefore, err := cpuTicks(t.pid)
			if err != nil {
				fail(err)
			}
			for range *perRound {
				d, series, err := scrape(client, t.url)
				if err != nil {
					fail(err)
				}
				t.latencies = append(t.latencies, d)
				t.series = series
				t.scrapes++
			}
			after, sysAfter, err := cpuTicks(t.pid)
			if err != nil {
				fail(err)
			}
			t.cpuTicks += after - before
			t.sysTicks += sysAfter - sysBefore
		}
	}
	for _, t := range targets {
		var err error
		if t.rssKiB, t.hwmKiB, err = memory(t.pid); err != nil {
			fail(err)
		}
	}
	report(targets)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "scrapebench:", err)
	os.Exit(1)
}

// scrape fetches one exposition and counts its samples.
func scrape(client *http.Client, url string) (time.Duration, int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Accept", prometheusAccept)
	req.Header.Set("Accept-Encoding", "gzip")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	elapsed := time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	var r io.Reader = strings.NewReader(string(raw))
	if resp.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return 0, 0, fmt.Errorf("gunzip %s: %w", url, err)
		}
		r = gz
	}
	series := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); line != "" && line[0] != '#' {
			series++
		}
	}
	return elapsed, series, sc.Err()
}

// cpuTicks returns utime+stime of a process, and stime alone.
func cpuTicks(pid int) (total, sys uint64, err error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return 0, 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return utime + stime, stime, nil
}

// memory returns VmRSS and VmHWM in KiB.
func memory(pid int) (rss, hwm uint64, err error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		}
	}
	return rss, hwm, sc.Err()
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(p*float64(len(s)-1))]
}

func report(targets []*target) {
	ref := targets[len(targets)-1]
	cpu := func(t *target) float64 { return float64(t.cpuTicks) / clockTicks / float64(t.scrapes) }
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	sys := func(t *target) float64 { return float64(t.sysTicks) / clockTicks / float64(t.scrapes) }
	fmt.Fprintln(w, "exporter\tseries\tcpu_ms/scrape\t(of which sys)\tp50_ms\tp99_ms\trss_MiB\thwm_MiB\tscrapes")
	for _, t := range targets {
		fmt.Fprintf(w, "%s\t%d\t%.3f\t%.3f\t%.2f\t%.2f\t%.1f\t%.1f\t%d\n", t.name, t.series, 1000*cpu(t), 1000*sys(t),
			ms(percentile(t.latencies, .5)), ms(percentile(t.latencies, .99)),
			float64(t.rssKiB)/1024, float64(t.hwmKiB)/1024, t.scrapes)
	}
	_ = w.Flush()
	for _, t := range targets[:len(targets)-1] {
		fmt.Printf("\n%s / %s: cpu per scrape %.2fx, rss %.2fx, p99 %.2fx, series %.2fx\n", t.name, ref.name,
			cpu(t)/cpu(ref), float64(t.rssKiB)/float64(ref.rssKiB),
			ms(percentile(t.latencies, .99))/ms(percentile(ref.latencies, .99)), float64(t.series)/float64(ref.series))
	}
}
