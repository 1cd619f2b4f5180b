// authload: the load client of bench/auth.ts, bench/joins.ts and bench/stream-cost.ts. It calls an auth hook the
// way MediaMTX 1.20.1 does (internal/auth/manager.go authenticateHTTP: Go net/http, a new Transport per call, so a
// new TCP connection per decision, POST application/json), or over keep-alive connections for comparison.
//
//	authload -url http://127.0.0.1:PORT/auth -bodies FILE [-mode closed|rate] [-conns N] [-rate R]
//	         [-duration 8s] [-keepalive] [-requests N]
//	authload -url ... -forge BYTES [-forge-path PATH|-random-paths]   a storm of forged viewer tokens
//	authload -url http://127.0.0.1:PORT/live/s/index.m3u8 -hls -bodies TOKENS   new HLS viewers
//
// FILE holds one request body per line; each request takes the next line of one counter shared by all workers,
// so no two requests in flight carry the same body (distinct viewer tokens stay distinct). Prints one JSON object.
//
// -forge: every request carries a token nobody signed (random base64url header, payload and signature, about
// BYTES long, so unique): as a MediaMTX hook body on -forge-path (or a random path each, -random-paths), or with
// -hls as `Authorization: Bearer` of a GET (then -url may hold %s for a random path).
// -hls: GET -url as a new viewer would (a new connection, `Authorization: Bearer <line>`); the latency is the time
// to the whole answer (the first playlist).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	Requests  int     `json:"requests"`
	OK        int     `json:"ok"`
	Non2xx    int     `json:"non2xx"`
	Errors    int     `json:"errors"`
	Seconds   float64 `json:"seconds"`
	RPS       float64 `json:"rps"`
	P50ms     float64 `json:"p50_ms"`
	P90ms     float64 `json:"p90_ms"`
	P99ms     float64 `json:"p99_ms"`
	MaxMs     float64 `json:"max_ms"`
	Bodies    int     `json:"distinct_bodies"`
	KeepAlive bool    `json:"keepalive"`
	// HTTP status -> count.
	Statuses map[string]int64 `json:"statuses"`
}

const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func randomText(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = b64url[rand.IntN(len(b64url))]
	}
	return string(b)
}

// forgedToken: three base64url parts, header.payload.signature, about n bytes, that nobody signed. The header is a
// real RS256 header (so the hook goes as far as a signature check); payload and signature are random.
func forgedToken(n int) string {
	header := "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0" // {"alg":"RS256","kid":"k1"}
	sig := 342                                      // an RS256 signature's length
	payload := max(16, n-len(header)-sig-2)
	return header + "." + randomText(payload) + "." + randomText(sig)
}

type sample struct {
	d      time.Duration
	status int
	err    bool
}

func main() {
	url := flag.String("url", "", "hook URL")
	bodiesFile := flag.String("bodies", "", "file with one JSON body per line")
	mode := flag.String("mode", "closed", "closed: -conns workers back to back; rate: -rate requests/s spread evenly")
	conns := flag.Int("conns", 16, "closed mode: concurrent workers")
	rate := flag.Int("rate", 2000, "rate mode: requests per second")
	duration := flag.Duration("duration", 8*time.Second, "how long to send")
	keepalive := flag.Bool("keepalive", false, "reuse connections (MediaMTX does not)")
	maxRequests := flag.Int64("requests", 0, "closed mode: stop after this many requests (0: run for -duration)")
	forge := flag.Int("forge", 0, "send forged tokens of about this many bytes instead of -bodies")
	forgePath := flag.String("forge-path", "live/s", "-forge: the path of every hook body")
	randomPaths := flag.Bool("random-paths", false, "-forge: a random path for every request")
	hls := flag.Bool("hls", false, "GET -url with Authorization: Bearer <line> (a new HLS viewer) instead of POST")
	flag.Parse()
	if *url == "" || (*bodiesFile == "" && *forge == 0) {
		flag.Usage()
		os.Exit(2)
	}
	var bodies [][]byte
	if *forge == 0 {
		var err error
		bodies, err = readLines(*bodiesFile)
		if err != nil || len(bodies) == 0 {
			fmt.Fprintf(os.Stderr, "authload: cannot read bodies from %s: %v\n", *bodiesFile, err)
			os.Exit(2)
		}
	}
	statuses := sync.Map{}

	var shared *http.Client
	if *keepalive {
		shared = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}
	}
	var next atomic.Uint64
	call := func() sample {
		n := next.Add(1) - 1
		var body []byte
		path := *forgePath
		if *forge > 0 {
			if *randomPaths {
				path = "junk/" + randomText(12)
			}
			token := forgedToken(*forge)
			if *hls {
				body = []byte(token)
			} else {
				body, _ = json.Marshal(map[string]any{
					"ip": "10.0.0.9", "user": "", "password": "", "token": token, "action": "read", "path": path,
					"protocol": "hls", "id": nil, "query": "", "userAgent": "authload",
				})
			}
		} else {
			body = bodies[n%uint64(len(bodies))]
		}
		client := shared
		var tr *http.Transport
		if client == nil {
			// As MediaMTX: a fresh Transport (and so a fresh connection) per call, closed afterwards.
			tr = &http.Transport{}
			client = &http.Client{Timeout: 10 * time.Second, Transport: tr}
		}
		t0 := time.Now()
		var res *http.Response
		var err error
		if *hls {
			target := *url
			if strings.Contains(target, "%s") {
				target = fmt.Sprintf(target, path)
			}
			req, _ := http.NewRequest(http.MethodGet, target, nil)
			req.Header.Set("Authorization", "Bearer "+string(body))
			res, err = client.Do(req)
		} else {
			res, err = client.Post(*url, "application/json", bytes.NewReader(body))
		}
		if err != nil {
			return sample{d: time.Since(t0), err: true}
		}
		c, _ := statuses.LoadOrStore(res.StatusCode, new(atomic.Int64))
		c.(*atomic.Int64).Add(1)
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		d := time.Since(t0)
		if tr != nil {
			tr.CloseIdleConnections()
		}
		return sample{d: d, status: res.StatusCode}
	}

	var mu sync.Mutex
	var all []sample
	start := time.Now()
	end := start.Add(*duration)
	var wg sync.WaitGroup
	var sent atomic.Uint64
	switch *mode {
	case "closed":
		for w := 0; w < *conns; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				local := make([]sample, 0, 1<<16)
				for time.Now().Before(end) && (*maxRequests == 0 || int64(sent.Add(1)) <= *maxRequests) {
					local = append(local, call())
				}
				mu.Lock()
				all = append(all, local...)
				mu.Unlock()
			}()
		}
	case "rate":
		total := int(float64(*rate) * duration.Seconds())
		all = make([]sample, total)
		interval := time.Second / time.Duration(*rate)
		for n := 0; n < total; n++ {
			if wait := time.Until(start.Add(time.Duration(n) * interval)); wait > 0 {
				time.Sleep(wait)
			}
			wg.Add(1)
			go func(n int) {
				defer wg.Done()
				all[n] = call()
			}(n)
		}
	default:
		fmt.Fprintf(os.Stderr, "authload: unknown mode %q\n", *mode)
		os.Exit(2)
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()

	r := result{Requests: len(all), Seconds: elapsed, KeepAlive: *keepalive}
	lat := make([]time.Duration, 0, len(all))
	for _, s := range all {
		switch {
		case s.err:
			r.Errors++
		case s.status >= 200 && s.status < 300:
			r.OK++
		default:
			r.Non2xx++
		}
		lat = append(lat, s.d)
	}
	r.Bodies = min(len(all), len(bodies))
	if *forge > 0 {
		r.Bodies = len(all)
	}
	r.Statuses = map[string]int64{}
	statuses.Range(func(k, v any) bool {
		r.Statuses[fmt.Sprint(k)] = v.(*atomic.Int64).Load()
		return true
	})
	r.RPS = float64(r.OK) / elapsed
	if len(lat) > 0 {
		slices.Sort(lat)
		q := func(p float64) float64 {
			i := min(len(lat)-1, int(p*float64(len(lat))))
			return float64(lat[i].Microseconds()) / 1000
		}
		r.P50ms, r.P90ms, r.P99ms, r.MaxMs = q(0.5), q(0.9), q(0.99), q(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(r)
}

func readLines(file string) ([][]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			out = append(out, slices.Clone(line))
		}
	}
	return out, sc.Err()
}
