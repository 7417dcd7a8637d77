module gort/benches/go/net

go 1.22
