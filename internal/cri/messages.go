package cri

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// The CRI messages the resolver reads, decoded by hand from the fields it
// needs; field numbers are those of k8s.io/cri-api's
// pkg/apis/runtime/v1/api.proto (v0.37.2). Unknown fields, and known fields
// of an unexpected wire type, are skipped, as the protobuf runtime does. A
// message field that appears more than once is merged, and a scalar field
// keeps its last value, as in the protobuf runtime. All requests the
// resolver sends are empty messages (no filter), encoded as zero bytes.

// versionResponse is runtime.v1.VersionResponse.
type versionResponse struct {
	version           string // 1
	runtimeName       string // 2
	runtimeVersion    string // 3
	runtimeAPIVersion string // 4
}

// criSandbox is runtime.v1.PodSandbox.
type criSandbox struct {
	id       string            // 1
	metadata sandboxMetadata   // 2
	labels   map[string]string // 5
}

// sandboxMetadata is runtime.v1.PodSandboxMetadata.
type sandboxMetadata struct {
	name      string // 1
	uid       string // 2
	namespace string // 3
	attempt   uint32 // 4
}

// criContainer is runtime.v1.Container.
type criContainer struct {
	id           string            // 1
	podSandboxID string            // 2
	metadata     containerMetadata // 3
	image        imageSpec         // 4
	imageRef     string            // 5
	labels       map[string]string // 8
	imageID      string            // 10
}

// containerMetadata is runtime.v1.ContainerMetadata.
type containerMetadata struct {
	name    string // 1
	attempt uint32 // 2
}

// imageSpec is runtime.v1.ImageSpec.
type imageSpec struct {
	image              string // 1
	userSpecifiedImage string // 18
}

// criImage is runtime.v1.Image.
type criImage struct {
	id          string   // 1
	repoTags    []string // 2
	repoDigests []string // 3
	pinned      bool     // 8
}

// field is one field of a message: a length-delimited (bytes) or varint one.
type field struct {
	num    protowire.Number
	typ    protowire.Type
	bytes  []byte // BytesType
	varint uint64 // VarintType
}

// str returns the field as a string, if it is length-delimited.
func (f field) str(dst *string) bool {
	if f.typ != protowire.BytesType {
		return false
	}
	*dst = string(f.bytes)
	return true
}

// walk calls fn for each length-delimited and varint field of the message b
// and skips the others (fixed-size fields, groups). It never panics.
func walk(b []byte, fn func(field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.BytesType:
			f.bytes, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			f.varint, n = protowire.ConsumeVarint(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if typ == protowire.BytesType || typ == protowire.VarintType {
			if err := fn(f); err != nil {
				return err
			}
		}
	}
	return nil
}

// mapEntry adds a map<string, string> entry (key = 1, value = 2) to *m.
func mapEntry(b []byte, m *map[string]string) error {
	var k, v string
	err := walk(b, func(f field) error {
		switch f.num {
		case 1:
			f.str(&k)
		case 2:
			f.str(&v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if *m == nil {
		*m = make(map[string]string)
	}
	(*m)[k] = v
	return nil
}

// repeated decodes each length-delimited field numbered num of b with dec.
func repeated[T any](b []byte, num protowire.Number, dec func([]byte, *T) error) ([]T, error) {
	var out []T
	err := walk(b, func(f field) error {
		if f.num != num || f.typ != protowire.BytesType {
			return nil
		}
		var v T
		if err := dec(f.bytes, &v); err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// decodeVersion decodes a runtime.v1.VersionResponse.
func decodeVersion(b []byte) (versionResponse, error) {
	var v versionResponse
	err := walk(b, func(f field) error {
		switch f.num {
		case 1:
			f.str(&v.version)
		case 2:
			f.str(&v.runtimeName)
		case 3:
			f.str(&v.runtimeVersion)
		case 4:
			f.str(&v.runtimeAPIVersion)
		}
		return nil
	})
	return v, err
}

// decodeListPodSandbox decodes a runtime.v1.ListPodSandboxResponse
// (repeated PodSandbox items = 1).
func decodeListPodSandbox(b []byte) ([]criSandbox, error) {
	return repeated(b, 1, decodeSandbox)
}

func decodeSandbox(b []byte, s *criSandbox) error {
	return walk(b, func(f field) error {
		switch f.num {
		case 1:
			f.str(&s.id)
		case 2:
			if f.typ == protowire.BytesType {
				return decodeSandboxMetadata(f.bytes, &s.metadata)
			}
		case 5:
			if f.typ == protowire.BytesType {
				return mapEntry(f.bytes, &s.labels)
			}
		}
		return nil
	})
}

func decodeSandboxMetadata(b []byte, m *sandboxMetadata) error {
	return walk(b, func(f field) error {
		switch f.num {
		case 1:
			f.str(&m.name)
		case 2:
			f.str(&m.uid)
		case 3:
			f.str(&m.namespace)
		case 4:
			if f.typ == protowire.VarintType {
				m.attempt = uint32(f.varint)
			}
		}
		return nil
	})
}

// decodeListContainers decodes a runtime.v1.ListContainersResponse
// (repeated Container containers = 1).
func decodeListContainers(b []byte) ([]criContainer, error) {
	return repeated(b, 1, decodeContainer)
}

func decodeContainer(b []byte, c *criContainer) error {
	return walk(b, func(f field) error {
		switch f.num {
		case 1:
			f.str(&c.id)
		case 2:
			f.str(&c.podSandboxID)
		case 3:
			if f.typ == protowire.BytesType {
				return decodeContainerMetadata(f.bytes, &c.metadata)
			}
		case 4:
			if f.typ == protowire.BytesType {
				return decodeImageSpec(f.bytes, &c.image)
			}
		case 5:
			f.str(&c.imageRef)
		case 8:
			if f.typ == protowire.BytesType {
				return mapEntry(f.bytes, &c.labels)
			}
		case 10:
			f.str(&c.imageID)
		}
		return nil
	})
}

func decodeContainerMetadata(b []byte, m *containerMetadata) error {
	return walk(b, func(f field) error {
		switch f.num {
		case 1:
			f.str(&m.name)
		case 2:
			if f.typ == protowire.VarintType {
				m.attempt = uint32(f.varint)
			}
		}
		return nil
	})
}

func decodeImageSpec(b []byte, s *imageSpec) error {
	return walk(b, func(f field) error {
		switch f.num {
		case 1:
			f.str(&s.image)
		case 18:
			f.str(&s.userSpecifiedImage)
		}
		return nil
	})
}

// decodeListImages decodes a runtime.v1.ListImagesResponse
// (repeated Image images = 1).
func decodeListImages(b []byte) ([]criImage, error) {
	return repeated(b, 1, decodeImage)
}

func decodeImage(b []byte, img *criImage) error {
	return walk(b, func(f field) error {
		switch f.num {
		case 1:
			f.str(&img.id)
		case 2:
			if f.typ == protowire.BytesType {
				img.repoTags = append(img.repoTags, string(f.bytes))
			}
		case 3:
			if f.typ == protowire.BytesType {
				img.repoDigests = append(img.repoDigests, string(f.bytes))
			}
		case 8:
			if f.typ == protowire.VarintType {
				img.pinned = f.varint != 0
			}
		}
		return nil
	})
}
