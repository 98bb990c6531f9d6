package ui

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestAlertsSilence: the all-in-one with --alertmanager.config.file runs
// its Alertmanager under /alertmanager/; the Alerts page silences the firing
// alert (the form prefilled with its labels, 2 h, author and comment), the
// Alertmanager says it is silenced and so does the page, and Expire ends
// the silence. The alert also reaches the Alertmanager's webhook receiver.
func TestAlertsSilence(t *testing.T) {
	requireChromium(t)
	hook := startWebhook(t)
	dir := t.TempDir()
	cfg := writeRulesConfig(t, dir, testRules)
	am := filepath.Join(dir, "alertmanager.yml")
	writeFile(t, am, fmt.Sprintf("route:\n  receiver: hook\n  group_wait: 1s\n  group_interval: 1s\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: %s\n", hook.url))
	s := startServer(t, "--config.file="+cfg, "--alertmanager.config.file="+am, "--rules.builtin=false")
	s.waitRules(t, "the firing, pending and failing rules", evaluated)
	deadline := time.Now().Add(time.Minute)
	for !hook.got("AlwaysFiring") {
		if time.Now().After(deadline) {
			t.Fatalf("the webhook never received AlwaysFiring")
		}
		time.Sleep(200 * time.Millisecond)
	}
	b := newBrowser(t, 1400, 1000)
	silenceFlow(t, b, s)
	b.noPageErrors()
}

// webhook is an Alertmanager webhook receiver that remembers the alert
// names it was sent.
type webhook struct {
	url   string
	mu    sync.Mutex
	names map[string]bool
}

func startWebhook(t *testing.T) *webhook {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &webhook{url: "http://" + l.Addr().String() + "/hook", names: map[string]bool{}}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var msg struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
			} `json:"alerts"`
		}
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		w.mu.Lock()
		for _, a := range msg.Alerts {
			w.names[a.Labels["alertname"]] = true
		}
		w.mu.Unlock()
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return w
}

func (w *webhook) got(name string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.names[name]
}

// amSilence is a silence of Alertmanager's API v2.
type amSilence struct {
	ID        string    `json:"id"`
	CreatedBy string    `json:"createdBy"`
	Comment   string    `json:"comment"`
	StartsAt  time.Time `json:"startsAt"`
	EndsAt    time.Time `json:"endsAt"`
	Matchers  []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"matchers"`
	Status struct {
		State string `json:"state"`
	} `json:"status"`
}

// silencedBy returns the silences Alertmanager says mute the alert named.
func (s *server) silencedBy(t *testing.T, alertname string) []string {
	t.Helper()
	var alerts []struct {
		Labels map[string]string `json:"labels"`
		Status struct {
			SilencedBy []string `json:"silencedBy"`
		} `json:"status"`
	}
	s.getJSON(t, "/alertmanager/api/v2/alerts", &alerts)
	for _, a := range alerts {
		if a.Labels["alertname"] == alertname {
			return a.Status.SilencedBy
		}
	}
	return nil
}

// silenceFlow: on the Alerts page of s, which runs the built-in
// Alertmanager and has sent it AlwaysFiring, the alert is silenced from the
// page (the form prefilled with its labels, 2 h, author, comment), shows as
// silenced, and the silence is expired from the page again.
func silenceFlow(t *testing.T, b *browser, s *server) {
	t.Helper()
	b.open(s.url("/#/alerts"))
	row := `tr.alert[data-alertname=AlwaysFiring]`
	b.poll(`!!document.querySelector('`+row+` button.silence')`, time.Minute)
	b.do(chromedp.Click(chromedp.CSS(row + ` button.silence`)))
	b.poll(`!!(document.querySelector('dialog.silence-form') || {}).open`, time.Minute)
	form := eval[map[string]any](b, `(() => { const d = document.querySelector('dialog.silence-form');
	  return {matchers: [...d.querySelectorAll('.matcher')].filter(m => m.querySelector('input').checked).map(m => m.innerText.trim()),
	          duration: d.querySelector('input[name=duration]').value}; })()`)
	if got := form["matchers"]; !strings.Contains(strings.Join(toStrings(got), " "), `alertname="AlwaysFiring"`) || len(toStrings(got)) != 3 || form["duration"] != "2h" {
		t.Errorf("the silence form starts with %v, want the alert's 3 labels as matchers and 2h", form)
	}
	b.do(chromedp.SendKeys(chromedp.CSS(`dialog input[name=author]`), "ui-test"),
		chromedp.SendKeys(chromedp.CSS(`dialog textarea[name=comment]`), "silenced by the UI test"))
	b.screenshot("silence-form")
	b.do(chromedp.Click(chromedp.CSS(`dialog button.primary`)))
	b.poll(`!document.querySelector('dialog.silence-form') && !!document.querySelector('`+row+`.silenced button.expire')`, time.Minute)

	var silences []amSilence
	s.getJSON(t, "/alertmanager/api/v2/silences", &silences)
	var made *amSilence
	for i := range silences {
		if silences[i].Status.State == "active" {
			made = &silences[i]
		}
	}
	if made == nil || made.CreatedBy != "ui-test" || made.Comment != "silenced by the UI test" || len(made.Matchers) != 3 {
		t.Fatalf("the Alertmanager's silences after the form: %+v", silences)
	}
	if d := made.EndsAt.Sub(made.StartsAt); d < 2*time.Hour-time.Minute || d > 2*time.Hour+time.Minute {
		t.Errorf("the silence lasts %s, want 2h", d)
	}
	if by := s.silencedBy(t, "AlwaysFiring"); len(by) != 1 || by[0] != made.ID {
		t.Errorf("the Alertmanager says AlwaysFiring is silenced by %v, want %s", by, made.ID)
	}
	if txt := eval[string](b, `document.querySelector('`+row+`').innerText`); !strings.Contains(txt, "silenced") || !strings.Contains(txt, "by ui-test") {
		t.Errorf("the silenced row shows %q", txt)
	}
	if n := eval[int](b, `document.querySelectorAll('.silence-list tr[data-silence]').length`); n != 1 {
		t.Errorf("the list of active silences has %d rows", n)
	}
	b.screenshot("alerts-silenced")

	// Expire it: the row can be silenced again, the silence is expired.
	b.do(chromedp.Click(chromedp.CSS(row + ` button.expire`)))
	b.poll(`!document.querySelector('`+row+`.silenced') && !!document.querySelector('`+row+` button.silence')`, time.Minute)
	s.getJSON(t, "/alertmanager/api/v2/silences", &silences)
	for _, si := range silences {
		if si.ID == made.ID && si.Status.State != "expired" {
			t.Errorf("after Expire the silence is %s", si.Status.State)
		}
	}
}

func toStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			out = append(out, strings.TrimSpace(x.(string)))
		}
	}
	return out
}
