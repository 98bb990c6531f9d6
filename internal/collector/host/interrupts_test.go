package host

import (
	"strings"
	"testing"
)

func TestParseInterrupts(t *testing.T) {
	t.Parallel()
	in := "           CPU0       CPU1\n" +
		"  16:          3          4   IO-APIC  16-fasteoi   ehci_hcd:usb1, i801_smbus\n" +
		" NMI:          1          2   Non-maskable interrupts\n" +
		" ERR:          0\n"
	want := map[string]interrupt{
		"16":  {info: "IO-APIC", devices: "16-fasteoi ehci_hcd:usb1, i801_smbus", values: []float64{3, 4}},
		"NMI": {info: "Non-maskable interrupts", values: []float64{1, 2}},
	}
	got, err := parseInterrupts(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for k, w := range want {
		g := got[k]
		if g.info != w.info || g.devices != w.devices || len(g.values) != 2 || g.values[0] != w.values[0] || g.values[1] != w.values[1] {
			t.Errorf("%s: got %+v, want %+v", k, g, w)
		}
	}
	if _, err := parseInterrupts(strings.NewReader("")); err == nil {
		t.Error("empty file accepted")
	}
	if _, err := parseInterrupts(strings.NewReader(" CPU0\n 1: x IO-APIC 1-edge i8042\n")); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("bad count: err = %v", err)
	}
}

func FuzzParseInterrupts(f *testing.F) {
	addFixtureSeeds(f, "testdata/interrupts/proc/interrupts")
	f.Add([]byte(" CPU0 CPU1\n 0: 1 2 IO-APIC 2-edge timer\nLOC: 3 4 Local timer\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			t.Skip()
		}
		irqs, err := parseInterrupts(strings.NewReader(string(b)))
		if err != nil && irqs != nil {
			t.Errorf("%v with error %v", irqs, err)
		}
		ncpu := -1
		for name, irq := range irqs {
			if ncpu >= 0 && len(irq.values) != ncpu {
				t.Errorf("%s: %d values, others %d", name, len(irq.values), ncpu)
			}
			ncpu = len(irq.values)
		}
	})
}
