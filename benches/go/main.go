// Command gobench runs the Go equivalents of gort's scheduler benchmarks
// (benches/sched.rs, benches/chan.rs, and the file reads of benches/blocking.rs) and
// prints the same line format:
//
//	spawn_join_batch        123.4 ns/op    iters=100000 runs=9 min=120.1 max=131.0
//
// Usage: gobench [-runs N] [-iters N] [-warmup N] [NAME_FILTER...]
//
// GOMAXPROCS applies as usual (benches/compare.sh sets 2); the yield benchmarks
// run with GOMAXPROCS=1, like gort's on a 1-P runtime.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

type bench struct {
	name    string
	procs   int // 0: keep GOMAXPROCS from the environment
	iters   int
	runs    int
	label   string // "ns/op", "ns/yield" or "ms"
	perIter int    // operations per iteration (for ns labels)
	work    func(n int) time.Duration
}

var benches = []bench{
	{"spawn_join_batch", 0, 100_000, 9, "ns/op", 1, spawnJoinBatch},
	{"spawn_join_seq", 0, 200_000, 9, "ns/op", 1, spawnJoinSeq},
	// Each iteration is one round trip: one Gosched by each goroutine.
	{"yield_pair", 1, 1_000_000, 9, "ns/yield", 2, yieldPair},
	{"yield_alone", 1, 2_000_000, 9, "ns/yield", 1, yieldAlone},
	{"skynet", 0, 1_000_000, 5, "ms", 1, skynetBench},
	// Channel benchmarks (benches/chan.rs): one iteration is one round trip.
	{"chan_pingpong_p1", 1, 1_000_000, 9, "ns/rtt", 1, chanPingPong},
	{"chan_pingpong_p2", 2, 1_000_000, 9, "ns/rtt", 1, chanPingPong},
	{"chan_mpmc", 0, 2_000_000, 9, "ns/msg", 1, chanMPMC},
	// File reads (benches/blocking.rs, files.go): iters goroutines, one file each.
	{"files_1000_4k", 0, 1000, 9, "ms", 1, readFiles(4 << 10)},
	{"files_1000_64k", 0, 1000, 9, "ms", 1, readFiles(64 << 10)},
}

// chanPingPong bounces a counter between two goroutines over two unbuffered channels.
func chanPingPong(n int) time.Duration {
	ping, pong := make(chan int), make(chan int)
	t := time.Now()
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
	}()
	v := 0
	for i := 0; i < n; i++ {
		ping <- v
		v = <-pong
	}
	close(ping)
	<-pong
	d := time.Since(t)
	check(v, n)
	return d
}

// chanMPMC moves n values from 4 sender to 4 receiver goroutines through one
// channel of capacity 64.
func chanMPMC(n int) time.Duration {
	const senders, receivers = 4, 4
	c := make(chan int, 64)
	sums := make(chan int, receivers)
	var wg sync.WaitGroup
	t := time.Now()
	wg.Add(senders)
	for s := 0; s < senders; s++ {
		go func(s int) {
			for i := s; i < n; i += senders {
				c <- i
			}
			wg.Done()
		}(s)
	}
	for r := 0; r < receivers; r++ {
		go func() {
			sum := 0
			for v := range c {
				sum += v
			}
			sums <- sum
		}()
	}
	wg.Wait()
	close(c)
	sum := 0
	for r := 0; r < receivers; r++ {
		sum += <-sums
	}
	d := time.Since(t)
	check(sum, n*(n-1)/2)
	return d
}

// spawnJoinBatch starts n goroutines, each storing its result, then waits for all.
func spawnJoinBatch(n int) time.Duration {
	res := make([]int, n)
	var wg sync.WaitGroup
	t := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) {
			res[i] = i
			wg.Done()
		}(i)
	}
	wg.Wait()
	sum := 0
	for _, v := range res {
		sum += v
	}
	d := time.Since(t)
	check(sum, n*(n-1)/2)
	return d
}

// spawnJoinSeq starts one goroutine and receives its result at once, n times.
func spawnJoinSeq(n int) time.Duration {
	t := time.Now()
	sum := 0
	for i := 0; i < n; i++ {
		c := make(chan int, 1)
		go func(i int) { c <- i }(i)
		sum += <-c
	}
	d := time.Since(t)
	check(sum, n*(n-1)/2)
	return d
}

func yielder(n int, wg *sync.WaitGroup) {
	for i := 0; i < n; i++ {
		runtime.Gosched()
	}
	wg.Done()
}

func yieldPair(n int) time.Duration {
	var wg sync.WaitGroup
	t := time.Now()
	wg.Add(2)
	go yielder(n, &wg)
	go yielder(n, &wg)
	wg.Wait()
	return time.Since(t)
}

func yieldAlone(n int) time.Duration {
	var wg sync.WaitGroup
	t := time.Now()
	wg.Add(1)
	go yielder(n, &wg)
	wg.Wait()
	return time.Since(t)
}

// skynet is the classic benchmark as written for Go: results travel over channels.
func skynet(c chan int, num, size, div int) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int)
	sum := 0
	for i := 0; i < div; i++ {
		subNum := num + i*(size/div)
		go skynet(rc, subNum, size/div, div)
	}
	for i := 0; i < div; i++ {
		sum += <-rc
	}
	c <- sum
}

func skynetBench(leaves int) time.Duration {
	t := time.Now()
	c := make(chan int)
	go skynet(c, 0, leaves, 10)
	sum := <-c
	d := time.Since(t)
	check(sum, leaves*(leaves-1)/2)
	return d
}

func check(got, want int) {
	if got != want {
		fmt.Fprintf(os.Stderr, "wrong result: got %d, want %d\n", got, want)
		os.Exit(1)
	}
}

func median(xs []float64) float64 {
	sort.Float64s(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func run(b bench, runs, iters, warmup int) {
	if b.procs > 0 {
		old := runtime.GOMAXPROCS(b.procs)
		defer runtime.GOMAXPROCS(old)
	}
	if iters == 0 {
		iters = b.iters
	}
	if runs == 0 {
		runs = b.runs
	}
	for i := 0; i < warmup; i++ {
		b.work(iters)
	}
	xs := make([]float64, runs)
	for i := range xs {
		d := b.work(iters)
		if b.label == "ms" {
			xs[i] = float64(d.Nanoseconds()) / 1e6
		} else {
			xs[i] = float64(d.Nanoseconds()) / float64(iters*b.perIter)
		}
	}
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	fmt.Printf("%-20s %12.1f %-9s iters=%d runs=%d min=%.1f max=%.1f\n",
		b.name, median(xs), b.label, iters, runs, lo, hi)
}

func main() {
	runs := flag.Int("runs", 0, "measured runs per benchmark (0: its default)")
	iters := flag.Int("iters", 0, "iterations per run (0: the benchmark's default)")
	warmup := flag.Int("warmup", 1, "warm-up runs")
	flag.Parse()
	defer removeBenchFiles()
	any := false
	for _, b := range benches {
		ok := flag.NArg() == 0
		for _, f := range flag.Args() {
			ok = ok || strings.Contains(b.name, f)
		}
		if ok {
			any = true
			run(b, *runs, *iters, *warmup)
		}
	}
	if !any {
		fmt.Fprintf(os.Stderr, "no benchmark matches %v\n", flag.Args())
		os.Exit(2)
	}
}
