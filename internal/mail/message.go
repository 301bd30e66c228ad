package mail

import (
	"bytes"
	"crypto/rand"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"
)

// maxSubjectBytes bounds the subject so that, folded at its spaces or
// encoded, no header line can pass RFC 5322 §2.1.1's 998 characters.
const maxSubjectBytes = 900

// check refuses what must not be sent and returns the parsed recipient.
func (m Message) check() (*mail.Address, error) {
	to, problem := parseAddress(m.To)
	if problem != "" {
		return nil, invalid("recipient %q %s", m.To, problem)
	}
	switch {
	case hasLineBreak(m.Subject):
		// The header injection: "Hi\r\nBcc: victim@example.com".
		return nil, invalid("subject %q holds a line break", m.Subject)
	case !utf8.ValidString(m.Subject):
		return nil, invalid("subject is not valid UTF-8")
	case strings.ContainsFunc(m.Subject, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }):
		return nil, invalid("subject %q holds a control character", m.Subject)
	case len(m.Subject) > maxSubjectBytes:
		return nil, invalid("subject is %d bytes; at most %d are sent", len(m.Subject), maxSubjectBytes)
	case strings.TrimSpace(m.Text) == "":
		return nil, invalid("no text body (the HTML body is optional, the text one is not)")
	case !utf8.ValidString(m.Text) || !utf8.ValidString(m.HTML):
		return nil, invalid("body is not valid UTF-8")
	}
	return to, nil
}

// parseAddress parses one address, with or without a display name, and
// returns what is wrong with it ("" when nothing is).
func parseAddress(s string) (*mail.Address, string) {
	if hasLineBreak(s) {
		return nil, "holds a line break"
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, "is not one e-mail address (" + err.Error() + ")"
	}
	for i := 0; i < len(a.Address); i++ {
		if a.Address[i] >= utf8.RuneSelf {
			// RFC 6531 addresses need SMTPUTF8 of every relay on the way.
			return nil, "is not an ASCII address (internationalized addresses are not supported)"
		}
	}
	return a, ""
}

// render returns m as an RFC 5322 message with CRLF line endings: text
// only, or multipart/alternative when m has HTML. Bodies are
// quoted-printable, so that every line stays under 78 characters and the
// message is 7-bit whatever the text, while links stay readable in the
// source.
func (m Message) render(from, to *mail.Address, date time.Time) []byte {
	var b bytes.Buffer
	writeHeader(&b, "Date", date.Format(time.RFC1123Z))
	writeHeader(&b, "Message-ID", "<"+rand.Text()+"@"+domainOf(from.Address)+">")
	writeHeader(&b, "From", from.String()) // String encodes a non-ASCII name (RFC 2047)
	writeHeader(&b, "To", to.String())
	writeHeader(&b, "Subject", encodeHeaderText(m.Subject))
	writeHeader(&b, "MIME-Version", "1.0")
	if m.HTML == "" {
		writeHeader(&b, "Content-Type", "text/plain; charset=utf-8")
		writeHeader(&b, "Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		writeQuotedPrintable(&b, m.Text)
		return b.Bytes()
	}
	mw := multipart.NewWriter(&b)
	writeHeader(&b, "Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	// Least faithful first: clients show the last part they can (RFC 2046
	// §5.1.4). Writes to a bytes.Buffer do not fail.
	for _, p := range []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		w, _ := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		writeQuotedPrintable(w, p.body)
	}
	_ = mw.Close()
	return b.Bytes()
}

// encodeHeaderText returns s as it may stand in an unstructured header:
// unchanged when it is ASCII, RFC 2047 encoded words otherwise.
func encodeHeaderText(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return mime.QEncoding.Encode("utf-8", s)
		}
	}
	return s
}

// writeHeader writes one header field, folded (RFC 5322 §2.2.3) at single
// spaces between words so that lines keep to 78 characters where the value
// allows. Unfolding removes only the CRLF, so the value reads back as it
// was; encoded words (at most 75 characters each) always allow a fold.
func writeHeader(b *bytes.Buffer, name, value string) {
	b.WriteString(name)
	b.WriteString(":")
	line := len(name) + 1
	words := strings.Split(value, " ")
	for i, w := range words {
		// Folding before the first word too: "Subject:" alone on its
		// line is fine, a 75-character encoded word after it is not.
		if line+1+len(w) > 78 && w != "" && (i == 0 || words[i-1] != "") {
			b.WriteString("\r\n")
			line = 0
		}
		b.WriteString(" ")
		b.WriteString(w)
		line += 1 + len(w)
	}
	b.WriteString("\r\n")
}

// writeQuotedPrintable writes text quoted-printable, its line breaks (LF,
// CRLF or CR) as CRLF, ending with one. SMTP ends the data of a message
// with a line break anyway (RFC 5321 §4.1.1.4), while in a multipart the
// break before a boundary is the boundary's: adding it here gives the
// reader the same text either way.
func writeQuotedPrintable(w io.Writer, text string) {
	text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	qp := quotedprintable.NewWriter(w)
	// The writer turns every LF into CRLF; a lone CR would be encoded.
	_, _ = io.WriteString(qp, text)
	_ = qp.Close()
}

// domainOf returns the domain of an address (what follows the last @).
func domainOf(addr string) string {
	return addr[strings.LastIndexByte(addr, '@')+1:]
}
