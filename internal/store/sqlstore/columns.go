package sqlstore

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// tm scans a time column of either dialect (SQLite: unix milliseconds;
// PostgreSQL: timestamptz) into a time.Time in UTC, NULL as the zero time:
// scan into (*tm)(&t).
type tm time.Time

func (t *tm) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*t = tm{}
	case int64:
		*t = tm(time.UnixMilli(v).UTC())
	case time.Time:
		*t = tm(v.UTC())
	default:
		return fmt.Errorf("sqlstore: scan %T as a time", src)
	}
	return nil
}

// list scans a list column (see encodeList) into a []string: scan into
// (*strList)(&l).
type strList []string

func (l *strList) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case nil:
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("sqlstore: scan %T as a list", src)
	}
	d, err := decodeList(s)
	*l = d
	return err
}

// encodeList encodes a list as a compact JSON array, without escaping
// HTML characters so that URIs stay readable and decodeList's fast path
// applies. Strings always encode (invalid UTF-8 as U+FFFD).
func encodeList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(l)
	return strings.TrimSuffix(b.String(), "\n")
}

// decodeList decodes a JSON array of strings; an empty array (or SQL "" or
// JSON null) decodes as nil. The compact form encodeList writes for
// strings without escapes (["a","b"]) is split directly, sharing s's
// memory, which keeps GetClient free of reflection; anything else goes
// through encoding/json.
func decodeList(s string) ([]string, error) {
	switch s {
	case "", "[]", "null":
		return nil, nil
	}
	if n := len(s); n >= 4 && s[0] == '[' && s[1] == '"' && s[n-2] == '"' && s[n-1] == ']' {
		inner := s[2 : n-2]
		quotes, simple := 0, true
		for i := 0; i < len(inner); i++ {
			switch c := inner[i]; {
			case c == '"':
				quotes++
			case c == '\\' || c < 0x20:
				simple = false
			}
		}
		// Without backslashes every quote delimits an element, so the
		// quotes must be exactly the separators' and each "," is one.
		if simple && quotes == 2*strings.Count(inner, `","`) && utf8.ValidString(inner) {
			return strings.Split(inner, `","`), nil
		}
	}
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("sqlstore: decode list %q: %w", s, err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// orNull returns v as a query argument, with an empty string or byte
// slice as NULL.
func orNull[T ~string | ~[]byte](v T) any {
	if len(v) == 0 {
		return nil
	}
	return v
}

// nilIfEmpty returns b, or nil when it is empty.
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// ceil returns t in UTC rounded up to a multiple of precision, for
// comparing stored times (multiples of precision) with t exactly: a stored
// time is before t exactly when it is before ceil(t).
func ceil(t time.Time, precision time.Duration) time.Time {
	t = t.UTC()
	if r := t.Truncate(precision); !r.Equal(t) {
		return r.Add(precision)
	}
	return t
}

// truncate returns t in UTC truncated to precision; the zero time stays
// zero.
func truncate(t time.Time, precision time.Duration) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(precision)
}
