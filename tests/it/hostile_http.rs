//! Malformed and abusive HTTP against the real listener: oversized headers get 431, a client
//! that sends its headers too slowly is disconnected, unknown methods get 405, broken request
//! lines 400, and an Accept header that is not even text still gets a valid exposition.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::web_security::{Server, plain};

fn status(response: &str) -> &str {
    response.split("\r\n").next().unwrap_or("")
}

#[tokio::test]
async fn oversized_or_too_many_headers_get_431() {
    let server = Server::start(None, Duration::from_secs(5)).await;
    let huge = format!("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(64 * 1024));
    let answer = plain(server.port, huge.as_bytes()).await;
    assert_eq!(status(&answer), "HTTP/1.1 431 Request Header Fields Too Large", "{answer}");

    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let answer = plain(server.port, format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes()).await;
    assert_eq!(status(&answer), "HTTP/1.1 431 Request Header Fields Too Large", "{answer}");

    let fine = plain(server.port, b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status(&fine), "HTTP/1.1 200 OK", "the server still serves: {fine}");
    server.stop().await;
}

#[tokio::test]
async fn a_client_dribbling_its_headers_is_disconnected() {
    let timeout = Duration::from_secs(1);
    let server = Server::start(None, timeout).await;
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = Instant::now();
    // One more header line every 200 ms, never finishing the request.
    let mut closed = false;
    for i in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if stream.write_all(format!("X-Slow-{i}: y\r\n").as_bytes()).await.is_err() {
            closed = true;
            break;
        }
        let mut buffer = [0u8; 512];
        if let Ok(read) = tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buffer)).await {
            // EOF, a reset, or an error response: the server is done with this client.
            let _ = read;
            closed = true;
            break;
        }
    }
    let held = started.elapsed();
    assert!(closed, "the connection was still open after {held:?}");
    assert!(held < timeout + Duration::from_secs(2), "held for {held:?}");

    // A connection that sends nothing at all is closed too.
    let mut idle = TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
    let started = Instant::now();
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut buffer)).await;
    assert!(read.is_ok(), "an idle connection was kept for more than 5 s");
    assert!(started.elapsed() < timeout + Duration::from_secs(2));
    server.stop().await;
}

#[tokio::test]
async fn odd_methods_broken_request_lines_and_unreadable_accept_headers() {
    let server = Server::start(None, Duration::from_secs(5)).await;
    for method in ["POST", "PUT", "DELETE", "BREW", "PROPFIND"] {
        let request =
            format!("{method} /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let answer = plain(server.port, request.as_bytes()).await;
        assert_eq!(status(&answer), "HTTP/1.1 405 Method Not Allowed", "{method}: {answer}");
    }
    for garbage in
        [&b"GET\r\n\r\n"[..], b"\x00\x01\x02 / HTTP/1.1\r\n\r\n", b"GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n"]
    {
        let answer = plain(server.port, garbage).await;
        assert!(answer.is_empty() || status(&answer).starts_with("HTTP/1.1 4"), "{garbage:?}: {answer}");
    }
    let mut odd_accept = b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAccept: ".to_vec();
    odd_accept.extend_from_slice(b"\xff\xfe application/openmetrics-text;q=\xe9\r\n\r\n");
    let answer = plain(server.port, &odd_accept).await;
    assert_eq!(status(&answer), "HTTP/1.1 200 OK", "{answer}");
    assert!(answer.contains("text/plain; version=0.0.4"), "{answer}");
    assert!(answer.contains("koji_up 0"), "{answer}");
    server.stop().await;
}
