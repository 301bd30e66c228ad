package server

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total",
			Help: "HTTP requests by listener, route pattern and status.",
		}, []string{"listener", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_http_request_duration_seconds",
			Help:    "HTTP request latency by listener and route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"listener", "route"}),
	}
	reg.MustRegister(m.requests, m.duration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// instrument counts requests by the mux pattern that served them (never by
// raw path, which would let clients create unbounded label values).
func (m *metrics) instrument(listener string, next http.Handler) http.Handler {
	var cache observers
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		next.ServeHTTP(w, r)
		route := r.Pattern
		if route == "" || route == "/" {
			route = "unmatched"
		}
		status := http.StatusOK
		if sw, ok := w.(*statusWriter); ok && sw.Status() != 0 {
			status = sw.Status()
		}
		o := cache.get(m, listener, route, status)
		o.requests.Inc()
		o.duration.Observe(time.Since(start).Seconds())
	})
}

// observers caches, per route and status, the series a request updates, so
// that a request costs a map read instead of two label lookups (each hashes
// its label values and takes the vector's lock) and a status string. Routes
// are mux patterns and statuses three digits, so the cache stays as small
// as the series it points to.
type observers struct{ m sync.Map } // routeStatus → *routeObservers

type routeStatus struct {
	route  string
	status int
}

type routeObservers struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

func (c *observers) get(m *metrics, listener, route string, status int) *routeObservers {
	k := routeStatus{route, status}
	if o, ok := c.m.Load(k); ok {
		return o.(*routeObservers)
	}
	o := &routeObservers{
		requests: m.requests.WithLabelValues(listener, route, strconv.Itoa(status)),
		duration: m.duration.WithLabelValues(listener, route),
	}
	actual, _ := c.m.LoadOrStore(k, o)
	return actual.(*routeObservers)
}
