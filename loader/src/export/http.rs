//! The little HTTP/1.x the exporter speaks, pure: where a request head ends, its method,
//! path and Accept header, which page that is, and a response head. Every response
//! closes the connection, so there is no keep-alive, pipelining or chunking to get right.

/// The most bytes a request head may have; a longer one is answered 431.
pub const MAX_HEAD: usize = 8192;

/// The request methods the exporter tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Other,
}

/// What the exporter reads of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The path, without the query string.
    pub path: String,
    /// Every Accept header, joined with commas as HTTP allows.
    pub accept: Option<String>,
}

/// Why a request head is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadRequest {
    Malformed,
    TooLarge,
}

/// The page a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Metrics,
    Index,
    NotFound,
    MethodNotAllowed,
}

/// Where the head in `buffer` ends (just past its blank line), once it is all there.
pub fn head_end(buffer: &[u8]) -> Option<usize> {
    buffer
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|at| at + 4)
        .or_else(|| {
            // Bare LF line ends, which HTTP/1.1 asks servers to accept.
            buffer
                .windows(2)
                .position(|window| window == b"\n\n")
                .map(|at| at + 2)
        })
}

/// Parses a request head (the request line and the header lines).
pub fn parse_head(head: &[u8]) -> Result<Request, BadRequest> {
    if head.len() > MAX_HEAD {
        return Err(BadRequest::TooLarge);
    }
    let text = std::str::from_utf8(head).map_err(|_| BadRequest::Malformed)?;
    let mut lines = text.split('\n').map(|line| line.trim_end_matches('\r'));
    let request_line = lines.next().ok_or(BadRequest::Malformed)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BadRequest::Malformed);
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || target.is_empty() {
        return Err(BadRequest::Malformed);
    }
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        _ => Method::Other,
    };
    let path = target.split(['?', '#']).next().unwrap_or("").to_string();
    let mut accept: Option<String> = None;
    for line in lines.take_while(|line| !line.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(BadRequest::Malformed)?;
        if name.trim().eq_ignore_ascii_case("accept") {
            let value = value.trim();
            accept = Some(match accept {
                Some(before) => format!("{before},{value}"),
                None => value.to_string(),
            });
        }
    }
    Ok(Request {
        method,
        path,
        accept,
    })
}

/// The page `request` asks for: `/metrics` and `/` by GET or HEAD.
pub fn route(request: &Request) -> Route {
    let page = match request.path.as_str() {
        "/metrics" => Route::Metrics,
        "/" => Route::Index,
        _ => return Route::NotFound,
    };
    match request.method {
        Method::Get | Method::Head => page,
        Method::Other => Route::MethodNotAllowed,
    }
}

/// The reason phrase of the statuses the exporter answers with.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// Appends a response head to `out`: status line, the headers, the blank line.
pub fn response_head(status: u16, content_type: &str, length: usize, out: &mut Vec<u8>) {
    use std::io::Write;
    let _ = write!(
        out,
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\nConnection: close\r\n",
        reason(status)
    );
    if status == 405 {
        out.extend_from_slice(b"Allow: GET, HEAD\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scrape_request_is_parsed() {
        let head = b"GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9435\r\nAccept: application/openmetrics-text;version=1.0.0\r\naccept: text/plain;q=0.5\r\n\r\n";
        assert_eq!(head_end(head), Some(head.len()));
        let request = parse_head(head).expect("a request");
        assert_eq!(
            request,
            Request {
                method: Method::Get,
                path: "/metrics".to_string(),
                accept: Some(
                    "application/openmetrics-text;version=1.0.0,text/plain;q=0.5".to_string()
                ),
            }
        );
        assert_eq!(route(&request), Route::Metrics);
    }

    #[test]
    fn incomplete_and_bad_heads() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(head_end(b"GET / HTTP/1.0\n\n"), Some(16));
        assert_eq!(parse_head(b"GET /\r\n\r\n"), Err(BadRequest::Malformed));
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nno colon\r\n\r\n"),
            Err(BadRequest::Malformed)
        );
        assert_eq!(
            parse_head(b"GET / SPDY/3\r\n\r\n"),
            Err(BadRequest::Malformed)
        );
        assert_eq!(parse_head(&[0xff; 20]), Err(BadRequest::Malformed));
        assert_eq!(
            parse_head(&vec![b'a'; MAX_HEAD + 1]),
            Err(BadRequest::TooLarge)
        );
    }

    #[test]
    fn routes() {
        let request = |method, path: &str| Request {
            method,
            path: path.to_string(),
            accept: None,
        };
        assert_eq!(route(&request(Method::Head, "/metrics")), Route::Metrics);
        assert_eq!(route(&request(Method::Get, "/")), Route::Index);
        assert_eq!(route(&request(Method::Get, "/other")), Route::NotFound);
        assert_eq!(
            route(&request(Method::Other, "/metrics")),
            Route::MethodNotAllowed
        );
        assert_eq!(route(&request(Method::Other, "/x")), Route::NotFound);
    }

    #[test]
    fn response_heads() {
        let mut out = Vec::new();
        response_head(405, "text/plain; charset=utf-8", 3, &mut out);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\nConnection: close\r\nAllow: GET, HEAD\r\n\r\n"
        );
    }
}
