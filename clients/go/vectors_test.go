package towerhmac

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The shared vectors (PROTOCOL §8, §4.6), from the repository's tests/vectors.
type vector struct {
	Name            string      `json:"name"`
	KeyID           string      `json:"key_id"`
	SecretBase64    string      `json:"secret_base64"`
	Time            int64       `json:"time"`
	Nonce           string      `json:"nonce"`
	Method          string      `json:"method"`
	URI             string      `json:"uri"`
	Headers         [][2]string `json:"headers"`
	BodyBase64      string      `json:"body_base64"`
	SignedHeaders   string      `json:"signed_headers"`
	StringToSign    string      `json:"string_to_sign"`
	Signature       string      `json:"signature"`
	Authorization   string      `json:"authorization"`
	ContentDigest   string      `json:"content_digest"`
	ChunksBase64    []string    `json:"chunks_base64"`
	ChunkSignatures []string    `json:"chunk_signatures"`
	WireBodyBase64  string      `json:"wire_body_base64"`
}

func loadVectors(t *testing.T, name string) []vector {
	t.Helper()
	dir := os.Getenv("TOWER_HMAC_VECTORS_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "tests", "vectors")
	}
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("the shared test vectors: %v (run from the repository, or set TOWER_HMAC_VECTORS_DIR)", err)
	}
	var vectors []vector
	if err := json.Unmarshal(data, &vectors); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(vectors) == 0 {
		t.Fatalf("%s: no vectors", name)
	}
	return vectors
}

// signerFor fixes the vector's time and nonce; its extra headers are the
// signed names other than host and content-type (§8).
func signerFor(t *testing.T, v vector) *Signer {
	t.Helper()
	var extra []string
	for _, name := range strings.Split(v.SignedHeaders, ";") {
		if name != "host" && name != "content-type" {
			extra = append(extra, name)
		}
	}
	s, err := NewSignerBase64(v.KeyID, v.SecretBase64, extra...)
	if err != nil {
		t.Fatal(err)
	}
	s.Now = func() time.Time { return time.Unix(v.Time, 0) }
	s.Nonce = func() (string, error) { return v.Nonce, nil }
	return s
}

// requestFor builds the vector's request as net/http holds one: a Host
// field line goes to req.Host; an absolute-form URI gives req.Host itself.
func requestFor(t *testing.T, v vector) *http.Request {
	t.Helper()
	req, err := http.NewRequest(v.Method, v.URI, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range v.Headers {
		if strings.EqualFold(h[0], "host") {
			req.Host = h[1]
		} else {
			req.Header.Add(h[0], h[1])
		}
	}
	if got := req.URL.RequestURI(); !strings.HasSuffix(v.URI, got) {
		t.Fatalf("net/http would send the target %q, not %q", got, v.URI)
	}
	return req
}

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t, "vectors.json") {
		v := v
		t.Run(v.Name, func(t *testing.T) {
			req := requestFor(t, v)
			signed, err := signerFor(t, v).Sign(req, b64(t, v.BodyBase64))
			if err != nil {
				t.Fatal(err)
			}
			check(t, "string_to_sign", signed.StringToSign, v.StringToSign)
			check(t, "signed_headers", signed.SignedHeaders, v.SignedHeaders)
			check(t, "signature", signed.Signature, v.Signature)
			check(t, "authorization", signed.Authorization, v.Authorization)
			check(t, "content_digest", signed.ContentDigest, v.ContentDigest)
			check(t, "Authorization header", req.Header.Get("Authorization"), v.Authorization)
			check(t, "Content-Digest header", req.Header.Get("Content-Digest"), v.ContentDigest)
			if signed.Chunked || req.Header.Get(BodyHeader) != "" {
				t.Error("not a chunked signature")
			}
		})
	}
}

// pieces reads one piece per Read, as a stream producing them would.
type pieces [][]byte

func (p *pieces) Read(b []byte) (int, error) {
	if len(*p) == 0 {
		return 0, io.EOF
	}
	n := copy(b, (*p)[0])
	if n == len((*p)[0]) {
		*p = (*p)[1:]
	} else {
		(*p)[0] = (*p)[0][n:]
	}
	return n, nil
}

func TestChunkedVectors(t *testing.T) {
	for _, v := range loadVectors(t, "chunked.json") {
		v := v
		t.Run(v.Name, func(t *testing.T) {
			var data pieces
			for _, c := range v.ChunksBase64 {
				data = append(data, b64(t, c))
			}
			chunks := append(pieces(nil), data...)
			req := requestFor(t, v)
			req.Body = io.NopCloser(&data)
			req.ContentLength = 99
			req.Header.Set("Content-Digest", "sha-256=:x:")
			signed, err := signerFor(t, v).SignChunked(req)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "string_to_sign", signed.StringToSign, v.StringToSign)
			check(t, "signature", signed.Signature, v.Signature)
			check(t, "authorization", signed.Authorization, v.Authorization)
			check(t, "X-HMAC-Body", req.Header.Get(BodyHeader), "chunks")
			check(t, "Content-Digest", req.Header.Get("Content-Digest"), "")
			if signed.ContentDigest != "" || !signed.Chunked || req.ContentLength != -1 || req.GetBody != nil {
				t.Errorf("not a chunked request: %+v, ContentLength %d", signed, req.ContentLength)
			}
			wire, err := io.ReadAll(req.Body)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(wire, b64(t, v.WireBodyBase64)) {
				t.Errorf("wire body\n got %q\nwant %q", wire, b64(t, v.WireBodyBase64))
			}

			// Chunk by chunk, each signature as the vector lists it.
			cs, err := signed.ChunkSigner()
			if err != nil {
				t.Fatal(err)
			}
			var framed []byte
			var sigs []string
			for _, c := range chunks {
				if framed, err = cs.AppendChunk(framed, c); err != nil {
					t.Fatal(err)
				}
				sigs = append(sigs, cs.Previous())
			}
			if framed, err = cs.AppendLast(framed); err != nil {
				t.Fatal(err)
			}
			sigs = append(sigs, cs.Previous())
			check(t, "chunk_signatures", strings.Join(sigs, " "), strings.Join(v.ChunkSignatures, " "))
			if !bytes.Equal(framed, wire) {
				t.Error("AppendChunk/AppendLast differ from Frame")
			}
		})
	}
}

func check(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s\n got %q\nwant %q", what, got, want)
	}
}
