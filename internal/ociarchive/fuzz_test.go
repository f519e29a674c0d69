package ociarchive

import (
	"io"
	"testing"
)

// FuzzLoadJSON feeds arbitrary manifest.json and index.json documents to
// the loader over an in-memory layout with real blobs; it must never
// panic, and whatever it accepts must stream.
func FuzzLoadJSON(f *testing.F) {
	l := newLayout(f, true)
	cfg := l.files[blobPath(l.configDig)]
	f.Add([]byte(nil), l.files["index.json"])
	f.Add([]byte(`[{"Config":"blobs/sha256/`+l.configDig[7:]+`","RepoTags":["a:b"],"Layers":["blobs/sha256/`+digestOf(l.layerBlob)[7:]+`"]}]`), []byte(nil))
	f.Add([]byte(`[{"Config":"../x"}]`), []byte(`{"schemaVersion":2,"manifests":[{"digest":"sha256:00"}]}`))
	f.Add([]byte(`[]`), []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"`+digestOf(cfg)+`","size":1}]}`))
	f.Fuzz(func(t *testing.T, manifest, index []byte) {
		src := memSource{}
		for k, v := range l.files {
			src[k] = v
		}
		delete(src, "index.json")
		if manifest != nil {
			src["manifest.json"] = manifest
		}
		if index != nil {
			src["index.json"] = index
		}
		imgs, err := loadSource(src)
		if err != nil {
			return
		}
		for _, img := range imgs {
			for _, ly := range img.Layers {
				rc, err := ly.Open()
				if err != nil {
					continue
				}
				io.Copy(io.Discard, rc)
				rc.Close()
			}
		}
	})
}
