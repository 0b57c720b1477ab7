package towerhmac

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// DefaultMaxBuffer is how much of a body that cannot be re-read (no
// GetBody, not a file) Transport reads into memory to hash it.
const DefaultMaxBuffer = 1 << 20

// Transport is an http.RoundTripper that signs every request with Signer,
// then sends it with Base (http.DefaultTransport when nil), as a signing
// middleware would:
//
//   - no body: signed as empty;
//   - a Content-Digest with a sha-256 member already set: signed with that
//     digest, the body sent as it is;
//   - a body with GetBody (http.NewRequest with a *bytes.Buffer,
//     *bytes.Reader or *strings.Reader): hashed through a fresh copy, its
//     digest declared, the body sent as it is;
//   - a body that is an io.Seeker (an *os.File): hashed from its current
//     offset to its end, rewound, its digest declared, then streamed;
//   - any other body: read into memory up to MaxBuffer bytes and declared;
//     a longer one (or any, when MaxBuffer < 0) is streamed in signed chunks
//     of at most ChunkSize bytes (PROTOCOL §4.6).
//
// The request passed in is not modified (it is cloned). A request retried
// by Base is sent with the same signature, so a server that saw the first
// attempt refuses the retry as replayed_request.
type Transport struct {
	Base   http.RoundTripper
	Signer *Signer
	// MaxBuffer: see above; 0 means DefaultMaxBuffer.
	MaxBuffer int64
	// ChunkSize is the most data per signed chunk; 0 means DefaultChunkSize.
	ChunkSize int
	// Explain, if set, is called with every request signed and its signature
	// (e.g. to log Signed.Explain while debugging a refusal).
	Explain func(*http.Request, *Signed)
}

// RoundTrip signs a clone of req and sends it.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	signed, err := t.sign(out)
	if err != nil {
		if out.Body != nil {
			out.Body.Close()
		}
		return nil, err
	}
	if t.Explain != nil {
		t.Explain(out, signed)
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(out)
}

func (t *Transport) sign(req *http.Request) (*Signed, error) {
	s := t.Signer
	if s == nil {
		return nil, errors.New("towerhmac: Transport without a Signer")
	}
	chunkSize := t.ChunkSize
	if chunkSize <= 0 {
		chunkSize = DefaultChunkSize
	}
	limit := t.MaxBuffer
	if limit == 0 {
		limit = DefaultMaxBuffer
	}
	body := req.Body
	if body == nil || body == http.NoBody {
		return s.Sign(req, nil)
	}

	for _, value := range headerValues(req.Header, "content-digest") {
		digest, ok, err := ParseContentDigest(value)
		if err != nil {
			return nil, err
		}
		if ok {
			return s.SignDigest(req, digest)
		}
	}

	if req.GetBody != nil {
		copyOfBody, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("towerhmac: GetBody: %w", err)
		}
		hash := sha256.New()
		_, err = io.Copy(hash, copyOfBody)
		copyOfBody.Close()
		if err != nil {
			return nil, fmt.Errorf("towerhmac: hashing the body: %w", err)
		}
		var digest [32]byte
		hash.Sum(digest[:0])
		return s.SignDigest(req, digest)
	}

	if seeker, ok := body.(io.Seeker); ok {
		if start, err := seeker.Seek(0, io.SeekCurrent); err == nil {
			hash := sha256.New()
			n, err := io.Copy(hash, body)
			if err != nil {
				return nil, fmt.Errorf("towerhmac: hashing the body: %w", err)
			}
			if _, err := seeker.Seek(start, io.SeekStart); err != nil {
				return nil, fmt.Errorf("towerhmac: rewinding the body: %w", err)
			}
			if req.ContentLength <= 0 {
				req.ContentLength = n
			}
			if n == 0 {
				body.Close()
				req.Body = http.NoBody
			}
			var digest [32]byte
			hash.Sum(digest[:0])
			return s.SignDigest(req, digest)
		}
	}

	if limit > 0 && req.ContentLength <= limit {
		read, err := io.ReadAll(io.LimitReader(body, limit+1))
		if err != nil {
			return nil, fmt.Errorf("towerhmac: reading the body: %w", err)
		}
		if int64(len(read)) <= limit {
			body.Close()
			req.ContentLength = int64(len(read))
			req.Body = http.NoBody
			if len(read) > 0 {
				req.Body = io.NopCloser(bytes.NewReader(read))
				req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(read)), nil }
			}
			return s.Sign(req, read)
		}
		// Longer than the limit: what was read, then the rest, in chunks.
		req.Body = readCloser{io.MultiReader(bytes.NewReader(read), body), body}
	}
	return s.signChunked(req, chunkSize)
}

type readCloser struct {
	io.Reader
	io.Closer
}
