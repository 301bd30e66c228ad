package server

import "testing"

// TestFramingScanner feeds header blocks one byte at a time and in one
// piece: only a block with both Content-Length and Transfer-Encoding marks
// the connection.
func TestFramingScanner(t *testing.T) {
	for _, c := range []struct {
		name, in  string
		ambiguous bool
	}{
		{"both", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"both, lower case, bare LF", "POST / HTTP/1.1\ntransfer-encoding: chunked\ncontent-length: 4\n\n", true},
		{"length only", "POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd", false},
		{"chunked only", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n", false},
		{"one in each of two requests", "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\nPOST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
		{"long header lines", "GET / HTTP/1.1\r\nX-Content-Length-Transfer-Encoding: 1\r\nContent-Lengthy: 1\r\n\r\n", false},
		{"second request", "GET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var whole, bytewise framingScanner
			whole.scan([]byte(c.in))
			for i := 0; i < len(c.in); i++ {
				bytewise.scan([]byte{c.in[i]})
			}
			if whole.ambiguous.Load() != c.ambiguous || bytewise.ambiguous.Load() != c.ambiguous {
				t.Errorf("ambiguous = %v (whole), %v (byte by byte); want %v", whole.ambiguous.Load(), bytewise.ambiguous.Load(), c.ambiguous)
			}
		})
	}
}
