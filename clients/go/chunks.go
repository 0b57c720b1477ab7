package towerhmac

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strconv"
)

// DefaultChunkSize is the most data SignChunked and Transport put in one
// signed chunk. The server's handler may hold one chunk that is not yet
// checked, so chunks are kept small.
const DefaultChunkSize = 64 << 10

const chunkScheme = "HMAC-SHA256-CHUNK"

// ErrChunksEnded is returned for a chunk signed after the last chunk.
var ErrChunksEnded = errors.New("towerhmac: the last chunk was already signed")

// ErrEmptyChunk is returned for a data chunk without data: size 0 is the last chunk.
var ErrEmptyChunk = errors.New("towerhmac: an empty chunk would end the body; use Last")

// ChunkSigner frames one body in signed chunks (PROTOCOL §4.6): each chunk's
// signature chains from the previous one, the first from the request's
// signature. Not safe for concurrent use.
type ChunkSigner struct {
	key      []byte
	previous string
	done     bool
}

// ChunkSigner returns a fresh chunk signer seeded with this signature; only
// for a signature made for signed chunks.
func (s *Signed) ChunkSigner() (*ChunkSigner, error) {
	if !s.Chunked {
		return nil, errors.New("towerhmac: this signature is not for a body in signed chunks")
	}
	return &ChunkSigner{key: s.key, previous: s.Signature}, nil
}

// Previous is the last signature in the chain: the seed, then each chunk's.
func (c *ChunkSigner) Previous() string { return c.previous }

// Done reports whether the last chunk was signed.
func (c *ChunkSigner) Done() bool { return c.done }

func (c *ChunkSigner) next(data []byte) string {
	sum := sha256.Sum256(data)
	c.previous = mac(c.key, chunkScheme+"\n"+c.previous+"\n"+hex.EncodeToString(sum[:]))
	return c.previous
}

// AppendChunk appends to dst the chunk "<size hex>;sig=<signature>\r\n<data>\r\n".
func (c *ChunkSigner) AppendChunk(dst, data []byte) ([]byte, error) {
	if c.done {
		return dst, ErrChunksEnded
	}
	if len(data) == 0 {
		return dst, ErrEmptyChunk
	}
	signature := c.next(data)
	dst = strconv.AppendUint(dst, uint64(len(data)), 16)
	dst = append(dst, ";sig="...)
	dst = append(dst, signature...)
	dst = append(dst, "\r\n"...)
	dst = append(dst, data...)
	return append(dst, "\r\n"...), nil
}

// AppendLast appends to dst the signed last chunk "0;sig=<signature>\r\n\r\n".
func (c *ChunkSigner) AppendLast(dst []byte) ([]byte, error) {
	if c.done {
		return dst, ErrChunksEnded
	}
	signature := c.next(nil)
	c.done = true
	dst = append(dst, "0;sig="...)
	dst = append(dst, signature...)
	return append(dst, "\r\n\r\n"...), nil
}

// Frame returns body (nil: empty) in signed chunks for this signature: one
// chunk per read of body, of at most chunkSize bytes (<= 0: DefaultChunkSize),
// then the last chunk. Closing it closes body. It panics if the signature is
// not for signed chunks.
func (s *Signed) Frame(body io.Reader, chunkSize int) io.ReadCloser {
	signer, err := s.ChunkSigner()
	if err != nil {
		panic(err)
	}
	if chunkSize <= 0 {
		chunkSize = DefaultChunkSize
	}
	if body == nil {
		body = eofReader{}
	}
	return &chunkReader{src: body, signer: signer, buf: make([]byte, chunkSize)}
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

type chunkReader struct {
	src    io.Reader
	signer *ChunkSigner
	buf    []byte // one read of src
	frame  []byte // the framed chunk being handed out
	out    []byte // what is left of frame
	srcEOF bool
	err    error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		switch {
		case r.err != nil:
			return 0, r.err
		case r.signer.Done():
			return 0, io.EOF
		case r.srcEOF:
			r.frame, _ = r.signer.AppendLast(r.frame[:0])
			r.out = r.frame
			continue
		}
		n, err := r.src.Read(r.buf)
		if n > 0 {
			r.frame, _ = r.signer.AppendChunk(r.frame[:0], r.buf[:n])
			r.out = r.frame
		}
		if err == io.EOF {
			r.srcEOF = true
		} else if err != nil {
			r.err = err
		}
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

func (r *chunkReader) Close() error {
	if c, ok := r.src.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
