package towerhmac

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// A loopback server that records each request as it arrived, and a small
// verifier that rebuilds the string-to-sign from it (PROTOCOL §4, §4.6),
// written separately from the signer so that what is signed is checked
// against what was sent.

var testSecret = []byte("tower-hmac-go-client-test-secret")

type received struct {
	method, target, host string
	header               http.Header
	body                 []byte // after transfer decoding
	contentLength        int64
	transferEncoding     []string
}

type capture struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
}

func newCapture(t *testing.T) *capture {
	c := &capture{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		c.mu.Lock()
		c.reqs = append(c.reqs, received{r.Method, r.RequestURI, r.Host, r.Header.Clone(), body, r.ContentLength, r.TransferEncoding})
		c.mu.Unlock()
		io.WriteString(w, "ok")
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *capture) take(t *testing.T) received {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.reqs) != 1 {
		t.Fatalf("%d requests received, wanted 1", len(c.reqs))
	}
	r := c.reqs[0]
	c.reqs = nil
	return r
}

var authRe = regexp.MustCompile(`^HMAC-SHA256 Key=([A-Za-z0-9._~-]{1,64}), Time=(0|[1-9][0-9]*), Nonce=([A-Za-z0-9_-]{16,64}), SignedHeaders=([a-z0-9!#$%&'*+.^_` + "`" + `|~;-]+), Signature=([A-Za-z0-9+/]{43}=)$`)

func testMAC(key []byte, msg string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// verifyReceived checks r's signature with key and returns the body's data.
func verifyReceived(t *testing.T, r received, key []byte) []byte {
	t.Helper()
	auths := r.header.Values("Authorization")
	if len(auths) != 1 {
		t.Fatalf("%d Authorization headers", len(auths))
	}
	m := authRe.FindStringSubmatch(auths[0])
	if m == nil {
		t.Fatalf("not the canonical Authorization form: %q", auths[0])
	}
	names := strings.Split(m[4], ";")
	if !sort.StringsAreSorted(names) {
		t.Fatalf("SignedHeaders not sorted: %s", m[4])
	}
	path, query, _ := strings.Cut(r.target, "?")
	lines := []string{"HMAC-SHA256", m[1], m[2], m[3], r.method, path, query, m[4]}
	for _, name := range names {
		var values []string
		if name == "host" {
			values = []string{r.host}
		} else {
			values = r.header.Values(name)
		}
		for i := range values {
			values[i] = strings.Trim(values[i], " \t")
		}
		lines = append(lines, name+":"+strings.Join(values, ","))
	}
	chunked := r.header.Get("X-Hmac-Body") == "chunks"
	if chunked {
		if r.header.Get("Content-Digest") != "" {
			t.Fatal("Content-Digest with signed chunks")
		}
		lines = append(lines, "STREAMING-HMAC-SHA256-CHUNKS")
	} else {
		sum := sha256.Sum256(r.body)
		want := "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
		if got := r.header.Values("Content-Digest"); len(got) != 1 || got[0] != want {
			t.Fatalf("Content-Digest %q, the received body's is %q", got, want)
		}
		lines = append(lines, hex.EncodeToString(sum[:]))
	}
	if want := testMAC(key, strings.Join(lines, "\n")); m[5] != want {
		t.Fatalf("the signature does not match the request as received:\n%s", strings.Join(lines, "\n"))
	}
	if !chunked {
		return r.body
	}
	data, err := unframe(key, m[5], r.body)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

var chunkHead = regexp.MustCompile(`^(0|[1-9a-f][0-9a-f]{0,15});sig=([A-Za-z0-9+/]{43}=)$`)

// unframe checks a body of signed chunks and returns its data.
func unframe(key []byte, seed string, wire []byte) ([]byte, error) {
	var data []byte
	previous := seed
	for {
		head, rest, ok := bytes.Cut(wire, []byte("\r\n"))
		if !ok {
			return nil, fmt.Errorf("chunk header without CRLF")
		}
		m := chunkHead.FindSubmatch(head)
		if m == nil {
			return nil, fmt.Errorf("bad chunk header %q", head)
		}
		size, _ := strconv.ParseUint(string(m[1]), 16, 64)
		if uint64(len(rest)) < size+2 || string(rest[size:size+2]) != "\r\n" {
			return nil, fmt.Errorf("chunk cut short or not followed by CRLF")
		}
		chunk := rest[:size]
		sum := sha256.Sum256(chunk)
		want := testMAC(key, "HMAC-SHA256-CHUNK\n"+previous+"\n"+hex.EncodeToString(sum[:]))
		if string(m[2]) != want {
			return nil, fmt.Errorf("chunk signature %s does not chain", m[2])
		}
		previous = want
		wire = rest[size+2:]
		if size == 0 {
			if len(wire) != 0 {
				return nil, fmt.Errorf("data after the last chunk")
			}
			return data, nil
		}
		data = append(data, chunk...)
	}
}
