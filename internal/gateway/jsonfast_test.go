package gateway

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

// fastJSONCases are bodies for decodeBody: valid ones it must decode as
// Unmarshal does, and ones it must leave to the general path.
var fastJSONCases = []string{
	`{"phoneNumber":"+34600000001","maxAge":240}`,
	` {"a" : [1, 2.5, -0, 0.1e3, 1E-2, true, false, null, "x", {}, []] } `,
	`{"a":{"b":{"c":[{"d":"é ü 漢"}]}}}`,
	`[]`, `{}`, `0`, `-1.5e+300`, `"s"`, `null`, `true`,
	`{"n":999,"n":1}`, `{"a":{"x":1,"x":2}}`, `[{"k":1},{"k":2}]`,
	`{"a":"\u0041"}`, `{"a\n":1}`, `{"a":"x\"y"}`, "{\"a\":\"\x01\"}",
	`{"a":1,}`, `[1,]`, `{"a" 1}`, `{"a":1}x`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`,
	`{"a":+1}`, `{"a":1e}`, `{"a":1e+}`, `{"a":-}`, `{"a":1e999}`, `{"a":tru}`, `{"a":nul}`,
	`{"a":"unterminated}`, `{`, `[`, ``, ` `, `{"a":[1,2}`, `{1:2}`, `{"a":NaN}`, `{"a":0x10}`,
	`{"a":1_000}`, `{"a":Infinity}`, `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
}

// checkFastJSON fails unless decodeBody agrees with the general path on
// body: when it decodes a body, Unmarshal decodes it to the same value and
// duplicateKey finds no duplicate.
func checkFastJSON(t *testing.T, body []byte) (decoded bool) {
	t.Helper()
	if !utf8.Valid(body) {
		return false // validate refuses it before decoding
	}
	got, ok := decodeBody(body)
	if !ok {
		return false
	}
	var want any
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatalf("decodeBody(%q) decoded a body Unmarshal refuses: %v", body, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeBody(%q) = %#v; Unmarshal gives %#v", body, got, want)
	}
	if name, dup := duplicateKey(body); dup {
		t.Fatalf("decodeBody(%q) decoded a body with the duplicate member %q", body, name)
	}
	return true
}

func TestDecodeBodyAgreesWithUnmarshal(t *testing.T) {
	decoded := 0
	for _, c := range fastJSONCases {
		if checkFastJSON(t, []byte(c)) {
			decoded++
		}
	}
	// The common bodies take the fast path.
	for _, c := range []string{fastJSONCases[0], fastJSONCases[1], fastJSONCases[2], `[]`, `{}`} {
		if _, ok := decodeBody([]byte(c)); !ok {
			t.Errorf("decodeBody(%q) left a plain body to the general path", c)
		}
	}
	if decoded == len(fastJSONCases) {
		t.Error("decodeBody took every case: the general-path cases are not exercised")
	}
}

func FuzzDecodeBody(f *testing.F) {
	for _, c := range fastJSONCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkFastJSON(t, body)
	})
}
