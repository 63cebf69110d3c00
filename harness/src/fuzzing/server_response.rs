//! The runner's HTTP client facing whatever a server under test sends back.
//!
//! A conformance tool is pointed at broken servers on purpose, so every byte the
//! server chooses (status line, headers, Link and Retry-After syntax, body size, JSON)
//! must end in a response or an error, never a panic or an unbounded buffer. Each
//! input is served by a real loopback socket, as a real server would answer.

use crate::protocol::http::{ClientOptions, HttpClient, HttpError};
use crate::protocol::wire::{Account, Authorization, Challenge, Directory, Order, OrdersList, Problem, RenewalInfo};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The body limit the client is given; the oracle holds it to that.
const MAX_BODY: usize = 4096;

struct Harness {
    runtime: tokio::runtime::Runtime,
    client: HttpClient,
}

impl Harness {
    /// A client given `max_body` as its limit.
    fn new(max_body: usize) -> Harness {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime builds");
        let options =
            ClientOptions { timeout: Duration::from_secs(2), connect_timeout: Duration::from_secs(1), max_body, ..ClientOptions::default() };
        let client = HttpClient::new(options).expect("default client options are valid");
        Harness { runtime, client }
    }
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| Harness::new(MAX_BODY))
}

/// Serves `answer` to one connection: reads the request head (bounded), writes the
/// bytes, closes.
async fn serve_once(listener: TcpListener, answer: Vec<u8>) {
    let Ok((mut stream, _)) = listener.accept().await else { return };
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let _ = stream.write_all(&answer).await;
    let _ = stream.shutdown().await;
}

pub(super) fn run(data: &[u8]) {
    if let Err(broken) = check_response(harness(), data) {
        panic!("{broken}");
    }
}

/// The response oracle: the client ends in a response or an error, keeps no more than
/// [`MAX_BODY`] bytes, and reads whatever it got as every wire type without panicking.
fn check_response(h: &Harness, data: &[u8]) -> Result<(), String> {
    h.runtime.block_on(async {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("a loopback port binds");
        let url = format!("http://{}/acme/order/1", listener.local_addr().expect("bound socket has an address"));
        let server = tokio::spawn(serve_once(listener, data.to_vec()));
        let result = match h.client.get(&url).await {
            Ok(resp) if resp.body.len() > MAX_BODY => Err(format!("the client kept a {} byte body over its {MAX_BODY} byte limit", resp.body.len())),
            Ok(resp) => {
                let _ = (resp.links(), resp.retry_after(), resp.location(), resp.replay_nonce(), resp.media_type());
                let _ = resp.problem();
                if let Ok(value) = resp.json() {
                    read_as_every_wire_type(&value);
                }
                Ok(())
            }
            Err(HttpError::BodyTooLarge { limit }) if limit != MAX_BODY => Err(format!("the client reported a {limit} byte limit, not {MAX_BODY}")),
            Err(_) => Ok(()),
        };
        let _ = server.await;
        result
    })
}

fn read_as_every_wire_type(value: &serde_json::Value) {
    let _ = serde_json::from_value::<Directory>(value.clone());
    let _ = serde_json::from_value::<Account>(value.clone());
    let _ = serde_json::from_value::<Order>(value.clone());
    let _ = serde_json::from_value::<Authorization>(value.clone());
    let _ = serde_json::from_value::<Challenge>(value.clone());
    let _ = serde_json::from_value::<Problem>(value.clone());
    let _ = serde_json::from_value::<OrdersList>(value.clone());
    let _ = serde_json::from_value::<RenewalInfo>(value.clone());
}

pub(super) fn seeds() -> Vec<(String, Vec<u8>)> {
    let response = |status: &str, headers: &str, body: &str| {
        format!("HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
    };
    vec![
        (
            "order.http".into(),
            response(
                "200 OK",
                "Content-Type: application/json\r\nReplay-Nonce: abc\r\nLink: <https://ca.test/dir>;rel=\"index\"\r\n",
                r#"{"status":"pending","identifiers":[{"type":"dns","value":"a.test"}],"authorizations":["https://ca.test/a/1"],"finalize":"https://ca.test/f/1"}"#,
            ),
        ),
        (
            "problem.http".into(),
            response(
                "429 Too Many Requests",
                "Content-Type: application/problem+json\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n",
                r#"{"type":"urn:ietf:params:acme:error:rateLimited","detail":"slow down","subproblems":[{"type":"urn:ietf:params:acme:error:malformed","identifier":{"type":"dns","value":"x"}}]}"#,
            ),
        ),
        ("chunked.http".into(), b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".to_vec()),
        (
            "renewal-info.http".into(),
            response(
                "200 OK",
                "Content-Type: application/json\r\nRetry-After: 21600\r\n",
                r#"{"suggestedWindow":{"start":"2026-01-01T00:00:00Z","end":"2026-01-02T00:00:00Z"}}"#,
            ),
        ),
    ]
}

#[cfg(test)]
mod planted {
    use super::*;

    #[test]
    fn a_client_that_ignores_its_body_limit_is_caught() {
        let body = "x".repeat(2 * MAX_BODY);
        let answers = [
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len()),
            format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n", body.len()),
        ];
        // The bug: the limit the client enforces is not the one it was meant to keep.
        let unbounded = Harness::new(1 << 20);
        for answer in &answers {
            assert_eq!(check_response(harness(), answer.as_bytes()), Ok(()));
            assert!(check_response(&unbounded, answer.as_bytes()).is_err_and(|e| e.contains("over its 4096 byte limit")));
        }
    }
}
