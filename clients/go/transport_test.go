package towerhmac

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testSigner(t *testing.T, extra ...string) *Signer {
	t.Helper()
	s, err := NewSigner("go-1", testSecret, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// client signs through a Transport and records every signature it makes.
func client(t *testing.T, tr *Transport) (*http.Client, *[]*Signed) {
	var signed []*Signed
	if tr.Signer == nil {
		tr.Signer = testSigner(t)
	}
	tr.Explain = func(_ *http.Request, s *Signed) { signed = append(signed, s) }
	return &http.Client{Transport: tr}, &signed
}

func do(t *testing.T, c *http.Client, req *http.Request) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func newRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// opaque hides GetBody and Seek: a stream net/http cannot re-read.
type opaque struct{ io.Reader }

func TestTransportGetAndInMemoryBodies(t *testing.T) {
	srv := newCapture(t)
	c, signed := client(t, &Transport{})

	do(t, c, newRequest(t, "GET", srv.URL+"/hello?b=2&a=1", nil))
	got := srv.take(t)
	if data := verifyReceived(t, got, testSecret); len(data) != 0 || got.target != "/hello?b=2&a=1" {
		t.Fatalf("%q %q", data, got.target)
	}

	body := []byte(`{"item":"widget","qty":3}`)
	req := newRequest(t, "POST", srv.URL+"/echo", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	do(t, c, req)
	got = srv.take(t)
	if data := verifyReceived(t, got, testSecret); !bytes.Equal(data, body) {
		t.Fatalf("%q", data)
	}
	if (*signed)[1].SignedHeaders != "content-type;host" || req.Header.Get("Authorization") != "" {
		t.Fatal("content-type is signed; the caller's request is left alone")
	}

	// No GetBody: read into memory (under MaxBuffer) and declared.
	do(t, c, newRequest(t, "PUT", srv.URL+"/echo", opaque{strings.NewReader("streamed, small")}))
	got = srv.take(t)
	if data := verifyReceived(t, got, testSecret); string(data) != "streamed, small" || got.contentLength != 15 {
		t.Fatalf("%q %d", data, got.contentLength)
	}
	if (*signed)[2].Chunked {
		t.Fatal("a small body is declared, not chunked")
	}
}

func TestTransportRawTargetAndRepeatedHeaders(t *testing.T) {
	srv := newCapture(t)
	c, signed := client(t, &Transport{Signer: testSigner(t, "x-tag", "x-absent")})
	req := newRequest(t, "DELETE", srv.URL+"/any/a%2fb/%7E?q=%c3%a9&flag&sp=%20", nil)
	req.Header.Add("X-Tag", "a")
	req.Header.Add("X-Tag", " b\tc ")
	do(t, c, req)
	got := srv.take(t)
	verifyReceived(t, got, testSecret)
	if got.target != "/any/a%2fb/%7E?q=%c3%a9&flag&sp=%20" {
		t.Fatalf("sent %q", got.target)
	}
	if !strings.Contains((*signed)[0].StringToSign, "\nx-absent:\nx-tag:a,b\tc\n") {
		t.Fatal((*signed)[0].Explain())
	}
}

func TestTransportFileIsHashedFirstThenStreamed(t *testing.T) {
	srv := newCapture(t)
	c, signed := client(t, &Transport{MaxBuffer: -1})
	data := randomBytes(t, 3<<20+11)
	f, err := os.Create(filepath.Join(t.TempDir(), "upload"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write([]byte("skip"))
	f.Write(data)
	f.Seek(4, io.SeekStart)
	do(t, c, newRequest(t, "PUT", srv.URL+"/upload", f))
	got := srv.take(t)
	if !bytes.Equal(verifyReceived(t, got, testSecret), data) {
		t.Fatal("body differs")
	}
	if got.contentLength != int64(len(data)) || (*signed)[0].Chunked {
		t.Fatalf("a file is declared and sent with its length: %d", got.contentLength)
	}
}

func TestTransportStreamsInSignedChunks(t *testing.T) {
	srv := newCapture(t)
	c, signed := client(t, &Transport{MaxBuffer: 1000, ChunkSize: 4096})
	data := randomBytes(t, 10000)
	do(t, c, newRequest(t, "POST", srv.URL+"/upload", opaque{bytes.NewReader(data)}))
	got := srv.take(t)
	if !bytes.Equal(verifyReceived(t, got, testSecret), data) {
		t.Fatal("body differs")
	}
	if !(*signed)[0].Chunked || got.contentLength != -1 || len(got.transferEncoding) != 1 {
		t.Fatalf("chunked %v, length %d, TE %v", (*signed)[0].Chunked, got.contentLength, got.transferEncoding)
	}
	if n := bytes.Count(got.body, []byte(";sig=")); n != 5 {
		t.Fatalf("%d chunks, not the 1001 bytes read ahead, 4096, 4096, 807 and the last", n)
	}

	// MaxBuffer < 0: every stream in chunks, even a small or empty one.
	c, signed = client(t, &Transport{MaxBuffer: -1})
	do(t, c, newRequest(t, "POST", srv.URL+"/upload", opaque{strings.NewReader("")}))
	got = srv.take(t)
	if data := verifyReceived(t, got, testSecret); len(data) != 0 || !(*signed)[0].Chunked {
		t.Fatalf("%q", data)
	}
	if !bytes.HasPrefix(got.body, []byte("0;sig=")) {
		t.Fatalf("%q", got.body)
	}
}

func TestTransportUsesADeclaredDigest(t *testing.T) {
	srv := newCapture(t)
	c, signed := client(t, &Transport{MaxBuffer: -1})
	data := []byte("a stream whose digest is known")
	req := newRequest(t, "POST", srv.URL+"/upload", opaque{bytes.NewReader(data)})
	req.Header.Set("Content-Digest", ContentDigest(sha256.Sum256(data)))
	do(t, c, req)
	if got := verifyReceived(t, srv.take(t), testSecret); !bytes.Equal(got, data) || (*signed)[0].Chunked {
		t.Fatal("declared, sent as it is")
	}

	req = newRequest(t, "POST", srv.URL+"/upload", opaque{bytes.NewReader(data)})
	req.Header.Set("Content-Digest", "sha-256=:bm90IDMyIGJ5dGVz:")
	if _, err := c.Do(req); err == nil || !strings.Contains(err.Error(), "Content-Digest") {
		t.Fatalf("a malformed declared digest: %v", err)
	}
}

type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

func TestTransportErrors(t *testing.T) {
	body := &closeCounter{Reader: strings.NewReader("x")}
	req := newRequest(t, "POST", "http://127.0.0.1:1/", body)
	if _, err := (&Transport{}).RoundTrip(req); err == nil || !strings.Contains(err.Error(), "without a Signer") {
		t.Fatal(err)
	}
	if body.closed != 1 {
		t.Fatal("a RoundTripper closes the body, even on errors")
	}
	failing := &closeCounter{Reader: io.MultiReader(strings.NewReader("x"), errReader{})}
	req = newRequest(t, "POST", "http://127.0.0.1:1/", failing)
	if _, err := (&Transport{Signer: testSigner(t)}).RoundTrip(req); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatal(err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("boom") }
