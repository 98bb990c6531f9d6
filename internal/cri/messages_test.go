package cri

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// maxFuzzInput caps fuzz inputs.
const maxFuzzInput = 64 << 10

// The conversions below give what the hand-written decoders must return for
// a message the protobuf runtime decodes into cri-api's generated types.

func fromSandboxes(in []*runtimeapi.PodSandbox) []criSandbox {
	var out []criSandbox
	for _, s := range in {
		md := s.GetMetadata()
		out = append(out, criSandbox{id: s.GetId(), labels: s.GetLabels(), metadata: sandboxMetadata{
			name: md.GetName(), uid: md.GetUid(), namespace: md.GetNamespace(), attempt: md.GetAttempt()}})
	}
	return out
}

func fromContainers(in []*runtimeapi.Container) []criContainer {
	var out []criContainer
	for _, c := range in {
		out = append(out, criContainer{
			id: c.GetId(), podSandboxID: c.GetPodSandboxId(),
			metadata: containerMetadata{name: c.GetMetadata().GetName(), attempt: c.GetMetadata().GetAttempt()},
			image:    imageSpec{image: c.GetImage().GetImage(), userSpecifiedImage: c.GetImage().GetUserSpecifiedImage()},
			imageRef: c.GetImageRef(), labels: c.GetLabels(), imageID: c.GetImageId(),
		})
	}
	return out
}

func fromImages(in []*runtimeapi.Image) []criImage {
	var out []criImage
	for _, img := range in {
		out = append(out, criImage{id: img.GetId(), repoTags: img.GetRepoTags(), repoDigests: img.GetRepoDigests(), pinned: img.GetPinned()})
	}
	return out
}

var cmpOpts = []cmp.Option{
	cmp.AllowUnexported(criSandbox{}, sandboxMetadata{}, criContainer{}, containerMetadata{}, imageSpec{}, criImage{}, versionResponse{}),
	cmpopts.EquateEmpty(),
}

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixtures are the test runtime's lists, in full (every field set, so that
// the decoders skip the fields they do not read).
func fixtures() (*runtimeapi.ListPodSandboxResponse, *runtimeapi.ListContainersResponse, *runtimeapi.ListImagesResponse) {
	f := newFake("containerd")
	sbs := &runtimeapi.ListPodSandboxResponse{Items: f.sandboxes}
	cs := &runtimeapi.ListContainersResponse{Containers: f.containers}
	for _, c := range cs.Containers {
		c = proto.Clone(c).(*runtimeapi.Container)
		c.CreatedAt = 1700000000000000000
		c.Annotations = map[string]string{"io.kubernetes.container.restartCount": "0"}
		c.ImageId = imgApp
		c.Image.Annotations = map[string]string{"a": "b"}
		c.Image.RuntimeHandler = "runc"
		cs.Containers = append(cs.Containers, c)
	}
	sb := proto.Clone(sbWeb).(*runtimeapi.PodSandbox)
	sb.CreatedAt, sb.RuntimeHandler, sb.Annotations = 1, "kata", map[string]string{"x": "y"}
	sbs.Items = append(sbs.Items, sb)
	imgs := &runtimeapi.ListImagesResponse{Images: slices.Clone(testImages)}
	imgs.Images = append(imgs.Images, &runtimeapi.Image{Id: "sha256:44", RepoTags: []string{"a", "b"}, RepoDigests: []string{"c"},
		Size: 12345, Uid: &runtimeapi.Int64Value{Value: 0}, Username: "root", Spec: &runtimeapi.ImageSpec{Image: "x"}, Pinned: true})
	return sbs, cs, imgs
}

func TestDecodeFixtures(t *testing.T) {
	sbs, cs, imgs := fixtures()
	if got, err := decodeListPodSandbox(marshal(t, sbs)); err != nil {
		t.Error(err)
	} else if diff := cmp.Diff(fromSandboxes(sbs.Items), got, cmpOpts...); diff != "" {
		t.Errorf("sandboxes (-want +got):\n%s", diff)
	}
	if got, err := decodeListContainers(marshal(t, cs)); err != nil {
		t.Error(err)
	} else if diff := cmp.Diff(fromContainers(cs.Containers), got, cmpOpts...); diff != "" {
		t.Errorf("containers (-want +got):\n%s", diff)
	}
	if got, err := decodeListImages(marshal(t, imgs)); err != nil {
		t.Error(err)
	} else if diff := cmp.Diff(fromImages(imgs.Images), got, cmpOpts...); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
	v := &runtimeapi.VersionResponse{Version: "0.1.0", RuntimeName: "cri-o", RuntimeVersion: "1.31", RuntimeApiVersion: "v1"}
	if got, err := decodeVersion(marshal(t, v)); err != nil || got != (versionResponse{"0.1.0", "cri-o", "1.31", "v1"}) {
		t.Errorf("version: %+v, %v", got, err)
	}
}

// TestDecodeProtobufSemantics checks the cases a plain encoder does not
// produce: a repeated message field merges, a field of the wrong wire type
// is skipped, a map entry may lack its key or value, and a truncated message
// is an error.
func TestDecodeProtobufSemantics(t *testing.T) {
	var b []byte
	str := func(b []byte, n protowire.Number, s string) []byte {
		b = protowire.AppendTag(b, n, protowire.BytesType)
		return protowire.AppendString(b, s)
	}
	msg := func(b []byte, n protowire.Number, m []byte) []byte {
		b = protowire.AppendTag(b, n, protowire.BytesType)
		return protowire.AppendBytes(b, m)
	}
	var c []byte
	c = str(c, 1, "old")
	c = str(c, 1, "id")                                                            // last wins
	c = msg(c, 3, str(nil, 1, "name"))                                             // metadata...
	c = msg(c, 3, protowire.AppendVarint([]byte{2 << 3}, 7))                       // ...merged
	c = protowire.AppendVarint(protowire.AppendTag(c, 2, protowire.VarintType), 5) // wrong type: skipped
	c = msg(c, 8, str(nil, 2, "no-key"))
	c = msg(c, 8, str(nil, 1, "no-value"))
	c = protowire.AppendFixed32(protowire.AppendTag(c, 99, protowire.Fixed32Type), 1)
	c = append(protowire.AppendTag(c, 100, protowire.StartGroupType), protowire.AppendTag(nil, 100, protowire.EndGroupType)...)
	b = msg(b, 1, c)
	got, err := decodeListContainers(b)
	want := []criContainer{{id: "id", metadata: containerMetadata{name: "name", attempt: 7},
		labels: map[string]string{"": "no-key", "no-value": ""}}}
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	var pm runtimeapi.ListContainersResponse
	if err := proto.Unmarshal(b, &pm); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fromContainers(pm.Containers), got, cmpOpts...); diff != "" {
		t.Errorf("differs from the protobuf runtime (-proto +got):\n%s", diff)
	}
	for i := 1; i < len(b); i++ { // b is one field: every prefix is truncated
		if _, err := decodeListContainers(b[:i]); err == nil {
			t.Errorf("prefix of %d of %d bytes decoded without error", i, len(b))
		}
	}
}

// fuzzDecode checks that decode never panics, and that it accepts what the
// protobuf runtime accepts, with the same values.
func fuzzDecode[M proto.Message, T any](f *testing.F, seeds []M, newMsg func() M, decode func([]byte) (T, error), convert func(M) T) {
	for _, s := range seeds {
		f.Add(marshal(f, s))
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			return
		}
		got, err := decode(b)
		m := newMsg()
		if perr := proto.Unmarshal(b, m); perr != nil {
			return // the runtime is stricter (UTF-8, fields the decoders skip)
		}
		if err != nil {
			t.Fatalf("decode failed where protobuf succeeds: %v", err)
		}
		if diff := cmp.Diff(convert(m), got, cmpOpts...); diff != "" {
			t.Fatalf("differs from protobuf (-proto +got):\n%s", diff)
		}
	})
}

func FuzzDecodeListContainers(f *testing.F) {
	_, cs, _ := fixtures()
	fuzzDecode(f, []*runtimeapi.ListContainersResponse{cs},
		func() *runtimeapi.ListContainersResponse { return new(runtimeapi.ListContainersResponse) },
		decodeListContainers, func(m *runtimeapi.ListContainersResponse) []criContainer { return fromContainers(m.Containers) })
}

func FuzzDecodeListPodSandbox(f *testing.F) {
	sbs, _, _ := fixtures()
	fuzzDecode(f, []*runtimeapi.ListPodSandboxResponse{sbs},
		func() *runtimeapi.ListPodSandboxResponse { return new(runtimeapi.ListPodSandboxResponse) },
		decodeListPodSandbox, func(m *runtimeapi.ListPodSandboxResponse) []criSandbox { return fromSandboxes(m.Items) })
}

func FuzzDecodeListImages(f *testing.F) {
	_, _, imgs := fixtures()
	fuzzDecode(f, []*runtimeapi.ListImagesResponse{imgs},
		func() *runtimeapi.ListImagesResponse { return new(runtimeapi.ListImagesResponse) },
		decodeListImages, func(m *runtimeapi.ListImagesResponse) []criImage { return fromImages(m.Images) })
}

func FuzzDecodeVersion(f *testing.F) {
	fuzzDecode(f, []*runtimeapi.VersionResponse{{Version: "0.1.0", RuntimeName: "containerd", RuntimeVersion: "v2.1.0", RuntimeApiVersion: "v1"}},
		func() *runtimeapi.VersionResponse { return new(runtimeapi.VersionResponse) },
		decodeVersion, func(m *runtimeapi.VersionResponse) versionResponse {
			return versionResponse{m.GetVersion(), m.GetRuntimeName(), m.GetRuntimeVersion(), m.GetRuntimeApiVersion()}
		})
}
