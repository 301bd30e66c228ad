package portal

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// BenchmarkReferencePage measures the server render of each CAMARA API's
// page (the budget: p95 ≤ 30 ms on a 2-core machine): "warm" is a request
// once the page model is cached, "cold" one right after the API changed
// (the document is parsed and the model built again). p95-ms is the 95th
// percentile of the iterations.
func BenchmarkReferencePage(b *testing.B) {
	docs := camaraDocs(b)
	r := newRig(b)
	for _, name := range []string{"sim-swap", "number-verification", "location-verification"} {
		api := "camara-" + name
		addAPI(b, r.db, api, "/camara/"+name, "live", docs[name])
		for _, mode := range []string{"warm", "cold"} {
			b.Run(name+"/"+mode, func(b *testing.B) {
				req := httptest.NewRequest(http.MethodGet, "/portal/apis/"+api, nil)
				req.Header.Set("Accept-Encoding", "gzip")
				took := make([]time.Duration, 0, b.N)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if mode == "cold" {
						r.portal.mu.Lock()
						delete(r.portal.refs, api)
						r.portal.mu.Unlock()
					}
					start := time.Now()
					w := httptest.NewRecorder()
					r.portal.ServeHTTP(w, req.WithContext(context.Background()))
					took = append(took, time.Since(start))
					if w.Code != http.StatusOK {
						b.Fatalf("%d", w.Code)
					}
				}
				slices.Sort(took)
				b.ReportMetric(float64(took[len(took)*95/100])/1e6, "p95-ms")
			})
		}
	}
}
