package gateway

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// duplicateKey reports the first object member name that occurs twice in
// the same object of data, at any depth, as a dotted path ("area.center.
// latitude", array items by index). data must already be valid JSON (it is
// called after decoding succeeded). RFC 8259 §4 leaves duplicate names'
// meaning to each parser: encoding/json keeps the last value, many others
// the first, so a body with duplicates is validated as one document and
// read by the upstream as another. Refusing them closes that gap; the body
// is forwarded as received, so nothing is re-encoded.
//
// Names are compared after unescaping ("\u006e" is "n"). One pass over the
// bytes; objects of up to linearKeys members are checked by comparison with
// no allocation, larger ones with a map, so the cost stays linear.
func duplicateKey(data []byte) (path string, dup bool) {
	const linearKeys = 16
	var frameBuf [8]jsonFrame
	var keyBuf [32][]byte
	frames, keys := frameBuf[:0], keyBuf[:0]
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '{', '[':
			frames = append(frames, jsonFrame{array: c == '[', start: len(keys)})
		case '}', ']':
			keys = keys[:frames[len(frames)-1].start]
			frames = frames[:len(frames)-1]
		case ',':
			if f := &frames[len(frames)-1]; f.array {
				f.index++
			}
		case '"':
			end, escaped := stringEnd(data, i)
			raw := data[i+1 : end]
			i = end
			if len(frames) == 0 || frames[len(frames)-1].array || !nextIsColon(data, i+1) {
				continue // a string value, not a member name
			}
			if escaped {
				var s string
				if err := json.Unmarshal(data[i-len(raw)-1:i+1], &s); err == nil {
					raw = []byte(s)
				}
			}
			f := &frames[len(frames)-1]
			f.key = raw
			names := keys[f.start:]
			switch {
			case f.set != nil:
				if _, ok := f.set[string(raw)]; ok {
					return keyPath(frames), true
				}
				f.set[string(raw)] = struct{}{}
				continue
			case len(names) >= linearKeys:
				f.set = make(map[string]struct{}, 2*linearKeys)
				for _, k := range names {
					f.set[string(k)] = struct{}{}
				}
				if _, ok := f.set[string(raw)]; ok {
					return keyPath(frames), true
				}
				f.set[string(raw)] = struct{}{}
				continue
			}
			for _, k := range names {
				if bytes.Equal(k, raw) {
					return keyPath(frames), true
				}
			}
			keys = append(keys, raw)
		}
	}
	return "", false
}

// stringEnd returns the index of the quote closing the string opened at
// data[open], and whether the string holds escapes.
func stringEnd(data []byte, open int) (end int, escaped bool) {
	for i := open + 1; i < len(data); i++ {
		switch data[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			return i, escaped
		}
	}
	return len(data) - 1, escaped
}

// nextIsColon reports whether the next non-blank byte from i is ':'.
func nextIsColon(data []byte, i int) bool {
	for ; i < len(data); i++ {
		switch data[i] {
		case ' ', '\t', '\r', '\n':
			continue
		case ':':
			return true
		}
		return false
	}
	return false
}

// jsonFrame is one open object or array in duplicateKey.
type jsonFrame struct {
	array bool
	index int    // items seen so far, for arrays
	start int    // first of this object's names in keys
	key   []byte // the member being read, for objects
	set   map[string]struct{}
}

// keyPath names the member being read in the innermost object, with the
// members and indexes that lead to it.
func keyPath(frames []jsonFrame) string {
	var b strings.Builder
	for i, f := range frames {
		if i > 0 {
			b.WriteByte('.')
		}
		if f.array {
			b.WriteString(strconv.Itoa(f.index))
		} else {
			b.Write(f.key)
		}
	}
	return b.String()
}
