package main

// The file workloads of benches/blocking.rs: n goroutines each read a different file
// with os.ReadFile. The files are made on first use (outside the timed part) in a
// temporary directory that main removes at exit.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

var (
	benchDir string
	fileSets = map[int][]string{}
)

// benchFiles returns n files of size bytes, file i filled with the byte i % 251.
func benchFiles(size, n int) []string {
	if paths, ok := fileSets[size]; ok {
		if len(paths) != n {
			fail(fmt.Errorf("%d files of %d bytes exist, %d asked for", len(paths), size, n))
		}
		return paths
	}
	if benchDir == "" {
		d, err := os.MkdirTemp("", "gort-gobench-files-")
		if err != nil {
			fail(err)
		}
		benchDir = d
	}
	dir := filepath.Join(benchDir, strconv.Itoa(size))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fail(err)
	}
	paths := make([]string, n)
	for i := range paths {
		paths[i] = filepath.Join(dir, strconv.Itoa(i))
		if err := os.WriteFile(paths[i], bytes.Repeat([]byte{byte(i % 251)}, size), 0o644); err != nil {
			fail(err)
		}
	}
	fileSets[size] = paths
	return paths
}

// readFiles is the work function of files_1000_<size>: n goroutines, one file each,
// each checking what it read; the time is from the first go statement to the last done.
func readFiles(size int) func(n int) time.Duration {
	return func(n int) time.Duration {
		paths := benchFiles(size, n)
		ok := make([]bool, n)
		var wg sync.WaitGroup
		t := time.Now()
		wg.Add(n)
		for i, p := range paths {
			go func(i int, p string) {
				b, err := os.ReadFile(p)
				ok[i] = err == nil && len(b) == size && b[0] == byte(i%251)
				wg.Done()
			}(i, p)
		}
		wg.Wait()
		d := time.Since(t)
		good := 0
		for _, v := range ok {
			if v {
				good++
			}
		}
		if good != n {
			fail(fmt.Errorf("%d of %d files read back wrong", n-good, n))
		}
		return d
	}
}

func removeBenchFiles() {
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	removeBenchFiles()
	os.Exit(1)
}
