package state

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// appliedSecret is a Secret as `kubectl apply` leaves it: its manifest,
// data included, in the last-applied-configuration annotation.
func appliedSecret(name string) *v1.Secret {
	return &v1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Annotations: map[string]string{
			v1.LastAppliedConfigAnnotation: `{"apiVersion":"v1","data":{"password":"aHVudGVyMg=="},"kind":"Secret"}`,
			"team":                         "storage",
		}},
		Data: map[string][]byte{"password": []byte("hunter2")},
	}
}

// secretLW lists one applied Secret and watches through w.
type secretLW struct{ w *watch.FakeWatcher }

func (f *secretLW) List(metav1.ListOptions) (runtime.Object, error) {
	return &v1.SecretList{Items: []v1.Secret{*appliedSecret("listed")}}, nil
}

func (f *secretLW) Watch(metav1.ListOptions) (watch.Interface, error) { return f.w, nil }

// TestSecretLastAppliedNeverReachesGenerators: with managedFields kept or
// stripped (KeepManagedFields either way), a Secret's
// last-applied-configuration is gone from what is listed and watched before
// kube-state-metrics' generators (kube_secret_annotations, whatever
// --metric-annotations-allowlist says) see it; its other annotations stay,
// and other kinds keep theirs.
func TestSecretLastAppliedNeverReachesGenerators(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, where string, s *v1.Secret) {
		t.Helper()
		if v, ok := s.Annotations[v1.LastAppliedConfigAnnotation]; ok {
			t.Errorf("%s Secret kept %s = %s", where, v1.LastAppliedConfigAnnotation, v)
		}
		if s.Annotations["team"] != "storage" {
			t.Errorf("%s Secret lost its other annotations: %v", where, s.Annotations)
		}
	}
	for _, strip := range []bool{true, false} {
		f := &secretLW{w: watch.NewFake()}
		lw := &trackedListWatch{lw: f, name: "secrets", tracker: newTracker(), strip: strip}
		obj, err := lw.List(metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		check(t, "listed", &obj.(*v1.SecretList).Items[0])
		w, err := lw.Watch(metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, send := range []func(runtime.Object){f.w.Add, f.w.Modify} {
			go send(appliedSecret("watched"))
			select {
			case ev := <-w.ResultChan():
				check(t, "watched ("+string(ev.Type)+")", ev.Object.(*v1.Secret))
			case <-time.After(30 * time.Second):
				t.Fatal("no watch event")
			}
		}
		w.Stop()
	}

	// A ConfigMap's is not a secret: kept, as kube-state-metrics does.
	cm := &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{v1.LastAppliedConfigAnnotation: "{}"}}}
	scrubObject(cm, true)
	if _, ok := cm.Annotations[v1.LastAppliedConfigAnnotation]; !ok {
		t.Error("a ConfigMap lost its last-applied-configuration")
	}

	// A Secret read by a custom-resource-state config is unstructured.
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("Secret")
	u.SetAnnotations(map[string]string{v1.LastAppliedConfigAnnotation: "{}", "team": "storage"})
	scrubObject(u, false)
	if got := u.GetAnnotations(); len(got) != 1 || got["team"] != "storage" {
		t.Errorf("unstructured Secret's annotations after scrubbing: %v, want team only", got)
	}
}
