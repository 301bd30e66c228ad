package sqlstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// A table is where one kind of record is stored, described for create,
// get and update (sqlstore.go), which treat every kind the same way.
type table[T any] struct {
	name    string
	columns string // in the order scan reads them and args returns them
	// ids is how many leading columns identify a record, which an update
	// must not change (what names them in its error); the first is the
	// key.
	ids  int
	what string
	gen  string // the generation a write increments, if any
	get  string // the query of a record by its key
	scan func(scanner) (*T, error)
	args func(db *DB, v *T) []any
	// stamps returns v's creation and update times (nil if it has none).
	stamps func(v *T) (created, updated *time.Time)
	check  func(v *T) error // if not nil, refuses a record to create
	// normalize, if not nil, puts v in its stored form (e-mail addresses
	// lower-cased) before create and update write it.
	normalize func(v *T)
	refs      []ref // its foreign keys
	// insert and update are derived from columns by newTable: an INSERT
	// of every column, and an UPDATE by key of all but the ids.
	insert, update string
}

// newTable returns t with its INSERT and UPDATE statements.
func newTable[T any](t table[T]) *table[T] {
	cols := strings.Split(t.columns, ",")
	set := make([]string, 0, len(cols))
	for i, c := range cols {
		cols[i] = strings.TrimSpace(c)
		if i >= t.ids {
			set = append(set, cols[i]+" = ?")
		}
	}
	t.insert = `INSERT INTO ` + t.name + ` (` + t.columns + `) VALUES (` + placeholders(len(cols)) + `)`
	t.update = `UPDATE ` + t.name + ` SET ` + strings.Join(set, ", ") + ` WHERE ` + cols[0] + ` = ?`
	return &t
}

// placeholders returns n placeholders separated by commas.
func placeholders(n int) string { return "?" + strings.Repeat(", ?", n-1) }

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

// bytesCol scans a byte slice column (see orNull) into a []byte, empty as
// nil: scan into (*bytesCol)(&b).
type bytesCol []byte

func (b *bytesCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*b = nil
	case []byte: // the driver's memory: copy it
		*b = bytes.Clone(v)
	case string:
		*b = []byte(v)
	default:
		return fmt.Errorf("sqlstore: scan %T as bytes", src)
	}
	if len(*b) == 0 {
		*b = nil
	}
	return nil
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
