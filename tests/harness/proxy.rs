//! A TCP proxy a test owns, between a client and Flightlog: its URL stays
//! the same while the server behind it is down (connections closed at
//! once), answers 503 (the proxy answers for it, with `Retry-After`), or
//! comes back on another port after a restart.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// Connections are closed at once, as by a dead server.
    Down,
    /// Every request gets 503 with `Retry-After: 1`.
    Unavailable,
    /// Bytes go to and from Flightlog on this port.
    Forward(u16),
}

pub struct Proxy {
    pub url: String,
    mode: Arc<Mutex<Mode>>,
    /// Connections closed at once while down.
    pub closed: Arc<AtomicUsize>,
    /// Requests answered 503 while unavailable.
    pub unavailable: Arc<AtomicUsize>,
}

impl Proxy {
    pub async fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let proxy = Proxy {
            url,
            mode: Arc::new(Mutex::new(mode)),
            closed: Arc::default(),
            unavailable: Arc::default(),
        };
        let (mode, closed, unavailable) = (proxy.mode.clone(), proxy.closed.clone(), proxy.unavailable.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { continue };
                let now = *mode.lock().unwrap();
                match now {
                    Mode::Down => {
                        closed.fetch_add(1, Ordering::Relaxed);
                        drop(client);
                    }
                    Mode::Unavailable => {
                        let unavailable = unavailable.clone();
                        tokio::spawn(async move {
                            if read_request(&mut client).await.is_some() {
                                unavailable.fetch_add(1, Ordering::Relaxed);
                                let body = r#"{"error":"storage unavailable (test proxy)"}"#;
                                let answer = format!(
                                    "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                    body.len()
                                );
                                let _ = client.write_all(answer.as_bytes()).await;
                                let _ = client.shutdown().await;
                            }
                        });
                    }
                    Mode::Forward(port) => {
                        tokio::spawn(async move {
                            if let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", port)).await {
                                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                            }
                        });
                    }
                }
            }
        });
        proxy
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

/// Reads one HTTP request (headers and a Content-Length body).
async fn read_request(stream: &mut TcpStream) -> Option<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(());
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
