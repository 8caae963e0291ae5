//! The serving loop of `statswatch -prometheus`: the listening address, a small fixed
//! pool of threads that each wait for, accept and answer one connection at a time (so memory and
//! threads stay bounded however many clients come), a deadline on reading a request (so
//! a slow client holds one thread for a few seconds at most, never the others), and
//! Ctrl-C or SIGTERM ending it all.
//!
//! Scrapes take turns on one [`Scraper`]: one batch lookup per scrape, into the same
//! buffers each time. The text is copied out before it is written to the client, so a
//! client that reads slowly does not hold up the next scrape.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use sys::signal::StopSignals;

use crate::export::error::ExportError;
use crate::export::http::{self, BadRequest, Method, Route, MAX_HEAD};
use crate::export::scrape::{Scraped, Scraper};
use crate::stats::prometheus::Format;

/// The port when `-prometheus` is given without one.
pub const DEFAULT_PORT: u16 = 9435;

/// Threads answering requests: scrapes are a few hundred microseconds, so this many
/// serve many scrapers, and as many slow clients can stall none but themselves.
pub const WORKERS: usize = 4;

/// How long a client has to send its request head, and each write may take.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a waiting thread (for a client, or for the next one) looks whether it
/// should stop.
const STOP_POLL: Duration = Duration::from_millis(100);

const PLAIN: &str = "text/plain; charset=utf-8";
const INDEX: &str = "statswatch -prometheus: the XDP counters are at /metrics\n";

/// The address `-prometheus` names: a bare port (`9435`, `:9435`) listens on 127.0.0.1
/// only; any other address must be written out (`0.0.0.0:9435`, `[::]:9435`,
/// `localhost:9435`).
pub fn parse_listen(text: &str) -> Result<SocketAddr, ExportError> {
    let bad = |reason| ExportError::Address {
        text: text.to_string(),
        reason,
    };
    let text = text.trim();
    let port = |port: &str| -> Result<u16, ExportError> {
        port.parse::<u16>()
            .map_err(|_| bad("the port must be a number from 0 to 65535"))
    };
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    if text.is_empty() {
        return Ok(SocketAddr::new(loopback, DEFAULT_PORT));
    }
    if let Some(bare) = text.strip_prefix(':') {
        return Ok(SocketAddr::new(loopback, port(bare)?));
    }
    if text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Ok(SocketAddr::new(loopback, port(text)?));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let Some((host, port_text)) = text.rsplit_once(':') else {
        return Err(bad("that is neither a port nor an address with a port"));
    };
    let port = port(port_text)?;
    match host {
        "localhost" => Ok(SocketAddr::new(loopback, port)),
        _ => match host.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(ip) => Ok(SocketAddr::new(ip, port)),
            Err(_) => Err(bad("the host must be an IP address or localhost")),
        },
    }
}

/// Listens on `addr`.
pub fn listen(addr: SocketAddr) -> Result<TcpListener, ExportError> {
    TcpListener::bind(addr).map_err(|error| match error.kind() {
        ErrorKind::AddrInUse => ExportError::AddressInUse { addr },
        _ => ExportError::Bind { addr, error },
    })
}

/// What the threads share.
struct Shared<'a> {
    listener: &'a TcpListener,
    scraper: Mutex<Scraper>,
    stop: AtomicBool,
    notice: &'a (dyn Fn(&str) + Sync),
}

/// Serves `/metrics` on `listener` until SIGINT or SIGTERM arrives on `signals` (taken
/// before this is called, so that the threads started here inherit the blocked mask).
/// `notice` is told, once each time it changes, when the map goes missing or wrong and
/// when it can be read again.
pub fn serve(
    signals: &StopSignals,
    listener: &TcpListener,
    scraper: Scraper,
    notice: &(dyn Fn(&str) + Sync),
) -> Result<(), ExportError> {
    // The threads wait in poll(2), not in accept(2), so that each sees the stop flag
    // within STOP_POLL whatever the clients do.
    listener
        .set_nonblocking(true)
        .map_err(ExportError::Listener)?;
    let shared = Shared {
        listener,
        scraper: Mutex::new(scraper),
        stop: AtomicBool::new(false),
        notice,
    };
    std::thread::scope(|scope| {
        let mut started = Ok(());
        for index in 0..WORKERS {
            let shared = &shared;
            let spawned = std::thread::Builder::new()
                .name(format!("scrape-{index}"))
                .spawn_scoped(scope, move || worker(shared));
            if let Err(error) = spawned {
                started = Err(ExportError::Thread(error));
                break;
            }
        }
        let result = started.and_then(|()| loop {
            match signals.wait(Duration::from_secs(3600)) {
                Ok(Some(_)) => break Ok(()),
                Ok(None) => {}
                Err(error) => break Err(ExportError::Signals(error)),
            }
        });
        // The scope then waits for every thread, each within STOP_POLL.
        shared.stop.store(true, Ordering::SeqCst);
        result
    })
}

fn worker(shared: &Shared<'_>) {
    let mut head = Vec::with_capacity(MAX_HEAD + 1024);
    let mut response = Vec::new();
    let timeout = PollTimeout::from(STOP_POLL.as_millis().min(u16::MAX as u128) as u16);
    while !shared.stop.load(Ordering::SeqCst) {
        let mut waiting = [PollFd::new(shared.listener.as_fd(), PollFlags::POLLIN)];
        match poll(&mut waiting, timeout) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(_) => {
                std::thread::sleep(STOP_POLL);
                continue;
            }
        }
        // Another thread may have taken the connection first: WouldBlock, wait again.
        match shared.listener.accept() {
            Ok((stream, _)) => {
                if stream.set_nonblocking(false).is_ok() {
                    answer(shared, stream, &mut head, &mut response);
                }
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => {}
            // Out of descriptors, or the client gave up already: try again shortly.
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Reads a request head from `stream` into `head`, within [`CLIENT_TIMEOUT`]. `None` when
/// the client closed, was too slow, or the exporter is stopping.
fn read_head(shared: &Shared<'_>, stream: &mut TcpStream, head: &mut Vec<u8>) -> Option<usize> {
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let mut chunk = [0u8; 1024];
    head.clear();
    loop {
        if let Some(end) = http::head_end(head) {
            return Some(end);
        }
        if head.len() > MAX_HEAD {
            return Some(head.len());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || shared.stop.load(Ordering::SeqCst) {
            return None;
        }
        stream.set_read_timeout(Some(left.min(STOP_POLL))).ok()?;
        match stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(read) => head.extend_from_slice(&chunk[..read]),
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => return None,
        }
    }
}

fn answer(shared: &Shared<'_>, mut stream: TcpStream, head: &mut Vec<u8>, out: &mut Vec<u8>) {
    if stream.set_write_timeout(Some(CLIENT_TIMEOUT)).is_err() {
        return;
    }
    let Some(end) = read_head(shared, &mut stream, head) else {
        return;
    };
    out.clear();
    let request = match http::parse_head(&head[..end]) {
        Ok(request) => request,
        Err(BadRequest::TooLarge) => return respond(&mut stream, 431, PLAIN, b"", false, out),
        Err(BadRequest::Malformed) => {
            return respond(&mut stream, 400, PLAIN, b"bad request\n", false, out)
        }
    };
    let head_only = request.method == Method::Head;
    match http::route(&request) {
        Route::Index => respond(&mut stream, 200, PLAIN, INDEX.as_bytes(), head_only, out),
        Route::NotFound => respond(
            &mut stream,
            404,
            PLAIN,
            b"not found: the metrics are at /metrics\n",
            head_only,
            out,
        ),
        Route::MethodNotAllowed => respond(
            &mut stream,
            405,
            PLAIN,
            b"only GET and HEAD are answered here\n",
            false,
            out,
        ),
        Route::Metrics => {
            let format = Format::negotiate(request.accept.as_deref());
            // The body goes into `out` behind the head, which is written in front of it
            // once the length is known: the scraper's lock is not held while writing.
            let mut body = std::mem::take(out);
            body.clear();
            let status = {
                let mut scraper = shared
                    .scraper
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let status = match scraper.scrape(format) {
                    Scraped::Metrics(text) => {
                        body.extend_from_slice(text.as_bytes());
                        200
                    }
                    Scraped::Unavailable(reason) => {
                        body.extend_from_slice(reason.as_bytes());
                        body.push(b'\n');
                        503
                    }
                };
                if let Some(text) = scraper.take_notice() {
                    (shared.notice)(&text);
                }
                status
            };
            let content_type = if status == 200 {
                format.content_type()
            } else {
                PLAIN
            };
            let mut head_bytes = std::mem::take(head);
            head_bytes.clear();
            http::response_head(status, content_type, body.len(), &mut head_bytes);
            let written = stream.write_all(&head_bytes).and_then(|()| {
                if head_only {
                    Ok(())
                } else {
                    stream.write_all(&body)
                }
            });
            finish(&mut stream, written);
            *head = head_bytes;
            *out = body;
        }
    }
}

fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    head_only: bool,
    out: &mut Vec<u8>,
) {
    out.clear();
    http::response_head(status, content_type, body.len(), out);
    if !head_only {
        out.extend_from_slice(body);
    }
    let written = stream.write_all(out);
    finish(stream, written);
}

/// Ends the response: the write side closed, and what the client still sends read away
/// for a moment so that the close does not reset the connection under the response.
fn finish(stream: &mut TcpStream, written: std::io::Result<()>) {
    if written.is_err() {
        return;
    }
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let mut sink = [0u8; 512];
    for _ in 0..16 {
        match stream.read(&mut sink) {
            Ok(read) if read > 0 => {}
            _ => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> String {
        parse_listen(text).map_or_else(|error| error.to_string(), |addr| addr.to_string())
    }

    #[test]
    fn a_bare_port_listens_on_loopback_only() {
        assert_eq!(addr("9435"), "127.0.0.1:9435");
        assert_eq!(addr(":9500"), "127.0.0.1:9500");
        assert_eq!(addr(""), "127.0.0.1:9435");
        assert_eq!(addr("0.0.0.0:9435"), "0.0.0.0:9435");
        assert_eq!(addr("[::1]:9435"), "[::1]:9435");
        assert_eq!(addr("localhost:80"), "127.0.0.1:80");
        assert_eq!(addr("0"), "127.0.0.1:0");
    }

    #[test]
    fn bad_addresses_are_usage_errors() {
        for text in ["70000", "host.example:9435", "1.2.3.4", "1.2.3.4:x"] {
            let error = parse_listen(text).expect_err(text);
            assert_eq!(error.exit_kind(), crate::ExitKind::Usage, "{text}");
        }
        assert_eq!(
            addr("70000"),
            "-prometheus \"70000\": the port must be a number from 0 to 65535; give a port (9435, which listens on 127.0.0.1 only) or an address and a port (0.0.0.0:9435, [::1]:9435)"
        );
    }
}
