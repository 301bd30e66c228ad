package gateway

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkValidateCAMARA measures validate on typical CAMARA bodies: the
// per-request cost of decoding, duplicate-key detection and the schema.
func BenchmarkValidateCAMARA(b *testing.B) {
	caller := &Caller{ClientID: "app", Subject: "app"}
	cases := []struct{ file, op, body string }{
		{"sim-swap.yaml", "POST /check", `{"phoneNumber":"+34600000001","maxAge":240}`},
		{"location-verification.yaml", "POST /verify", `{"device":{"phoneNumber":"+34600000001","ipv4Address":{"publicAddress":"84.125.93.10","publicPort":59765}},` +
			`"area":{"areaType":"CIRCLE","center":{"latitude":50.735851,"longitude":7.10066},"radius":50000},"maxAge":120}`},
	}
	for _, c := range cases {
		b.Run(strings.TrimSuffix(c.file, ".yaml"), func(b *testing.B) {
			api := compileCAMARA(b, c.file)
			method, rel, _ := strings.Cut(c.op, " ")
			op := api.root.lookup(rel).ops[method]
			body := []byte(c.body)
			r := httptest.NewRequest(method, api.basePath+rel, nil)
			b.ReportAllocs()
			for b.Loop() {
				if p := validate(r, api, op, rel, body, caller); p != nil {
					b.Fatal(p)
				}
			}
		})
	}
}

// BenchmarkDuplicateKey measures the duplicate-member scan alone on the
// Location Verification body above and on an object of 64 members (the
// map path).
func BenchmarkDuplicateKey(b *testing.B) {
	var wide strings.Builder
	wide.WriteString("{")
	for i := range 64 {
		if i > 0 {
			wide.WriteString(",")
		}
		wide.WriteString(`"member` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `":1`)
	}
	wide.WriteString("}")
	for name, body := range map[string]string{
		"location": `{"device":{"phoneNumber":"+34600000001","ipv4Address":{"publicAddress":"84.125.93.10","publicPort":59765}},` +
			`"area":{"areaType":"CIRCLE","center":{"latitude":50.735851,"longitude":7.10066},"radius":50000},"maxAge":120}`,
		"64-members": wide.String(),
	} {
		b.Run(name, func(b *testing.B) {
			data := []byte(body)
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, dup := duplicateKey(data); dup {
					b.Fatal("duplicate")
				}
			}
		})
	}
}

// BenchmarkCaseMismatch measures the member-name walk alone on the
// Location Verification body.
func BenchmarkCaseMismatch(b *testing.B) {
	api := compileCAMARA(b, "location-verification.yaml")
	op := api.root.lookup("/verify").ops["POST"]
	var value any
	if err := json.Unmarshal([]byte(`{"device":{"phoneNumber":"+34600000001","ipv4Address":{"publicAddress":"84.125.93.10","publicPort":59765}},`+
		`"area":{"areaType":"CIRCLE","center":{"latitude":50.735851,"longitude":7.10066},"radius":50000},"maxAge":120}`), &value); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if p := op.members.caseMismatch(op.bodySchema, value); p != nil {
			b.Fatal(p)
		}
	}
}
