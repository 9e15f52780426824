//! The metrics endpoint: `GET /metrics` over plain HTTP/1.1 on its own
//! port, for a Prometheus server to scrape. It is deliberately small: one
//! request per connection, a request of at most [`MAX_REQUEST`] bytes read
//! within [`REQUEST_TIMEOUT`], at most [`MAX_SCRAPES`] at once, and nothing
//! but the metrics text or a 404. It listens on loopback by default; the
//! figures carry no personal data.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// The most bytes of a request read.
pub const MAX_REQUEST: usize = 8 * 1024;
/// How long a scraper gets to send its request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Scrapes served at once; more connections are closed.
pub const MAX_SCRAPES: usize = 8;

/// Serves `listener` until `stop` changes; `render` makes the text of
/// each scrape (setting the figures read at scrape time first).
pub fn serve<F, Fut>(
    listener: TcpListener,
    render: F,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = String> + Send,
{
    let render = Arc::new(render);
    let slots = Arc::new(Semaphore::new(MAX_SCRAPES));
    tokio::spawn(async move {
        loop {
            let tcp = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((tcp, _)) => tcp,
                    Err(e) => {
                        tracing::warn!(error = %e, "metrics: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = stop.changed() => break,
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                continue;
            };
            let render = render.clone();
            tokio::spawn(async move {
                let _slot = slot;
                if let Err(e) = answer(tcp, render.as_ref()).await {
                    tracing::debug!(error = %e, "metrics: scrape failed");
                }
            });
        }
    })
}

async fn answer<F, Fut>(mut tcp: TcpStream, render: &F) -> std::io::Result<()>
where
    F: Fn() -> Fut,
    Fut: Future<Output = String>,
{
    let mut request = Vec::with_capacity(512);
    let read = tokio::time::timeout(REQUEST_TIMEOUT, async {
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < MAX_REQUEST {
            let n = tcp.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    if !matches!(read, Ok(Ok(()))) {
        return Ok(());
    }
    let first = request.split(|b| *b == b'\n').next().unwrap_or_default();
    let (status, content_type, body) = if is_scrape(first) {
        (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            render().await,
        )
    } else {
        (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "GET /metrics\n".to_owned(),
        )
    };
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await?;
    tcp.write_all(body.as_bytes()).await?;
    tcp.shutdown().await
}

/// Whether a request line asks for the metrics.
fn is_scrape(line: &[u8]) -> bool {
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    parts.next() == Some("GET")
        && parts
            .next()
            .is_some_and(|p| p == "/metrics" || p.starts_with("/metrics?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_get_of_the_metrics_path_is_a_scrape() {
        assert!(is_scrape(b"GET /metrics HTTP/1.1\r"));
        assert!(is_scrape(b"GET /metrics?x=1 HTTP/1.1\r"));
        assert!(!is_scrape(b"POST /metrics HTTP/1.1\r"));
        assert!(!is_scrape(b"GET / HTTP/1.1\r"));
        assert!(!is_scrape(b"GET /metricsX HTTP/1.1\r"));
        assert!(!is_scrape(b""));
    }
}
