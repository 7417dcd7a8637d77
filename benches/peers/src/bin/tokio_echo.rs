//! Echo server on tokio: a task per connection, read up to 4 KiB, write it back.
//! The peer of gort's `examples/echo.rs` and `benches/go/net/echo` in `benches/net.sh`.
//!
//!     tokio_echo [--addr 127.0.0.1:7000] [--threads N]

#[path = "../common.rs"]
mod common;

use std::io::Write;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const USAGE: &str = "usage: tokio_echo [--addr 127.0.0.1:7000] [--threads N]";

fn main() {
    let args = common::Args::parse(&["addr", "threads"], USAGE);
    let addr: String = args.get("addr", "127.0.0.1:7000".to_string());
    let threads: usize = args.get("threads", 2);
    common::raise_nofile();
    common::runtime(threads).block_on(async move {
        let listener = TcpListener::bind(&addr).await.unwrap_or_else(|e| {
            eprintln!("tokio_echo: bind {addr}: {e}");
            std::process::exit(1)
        });
        println!("listening on {}", listener.local_addr().unwrap());
        std::io::stdout().flush().ok();
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(serve(stream));
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    eprintln!("tokio_echo: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    });
}

async fn serve(mut stream: TcpStream) {
    stream.set_nodelay(true).ok();
    let mut buf = vec![0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
