//! A small HTTP/1.1 server: one thread per connection, keep-alive, Content-Length and chunked
//! request bodies.
//!
//! Why not tiny_http: the emulator must be able to misbehave on purpose (close a keep-alive
//! connection before any response, or after part of a body, or with a lying Content-Length).
//! tiny_http owns the socket and keeps reading the next request after a partial response, so
//! the client would hang instead of seeing the reset. Owning the `TcpStream` makes every fault
//! exact.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Largest accepted request head, and body held in memory.
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: u64 = 1 << 30;
/// Largest upload spooled to a file (a D1 database is at most 10 GB; its dump is larger).
const MAX_SPOOLED: u64 = 64 << 30;

/// A parsed request, body fully read.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// Path without the query string, still percent-encoded.
    pub path: String,
    /// The raw query string (without `?`).
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// An import upload's body (`PUT /uploads/...`), spooled to a temporary file instead of
    /// `body`; the handler takes it.
    pub body_file: std::sync::Mutex<Option<tempfile::TempPath>>,
}

impl Request {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Decoded query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == name).then(|| percent_decode(v))
        })
    }
}

/// How the body is sent.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// A normal response.
    Normal,
    /// Close the connection without writing anything.
    Reset,
    /// Declare `declared` bytes in Content-Length, write the first `send` bytes of the body, close.
    Cut { declared: u64, send: u64 },
}

/// A response to write.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    pub delivery: Delivery,
}

/// A response body: owned bytes, or a range of a dump's spooled file, streamed from it (a 1 GB
/// dump is neither copied nor held in memory, however many downloads of it run).
#[derive(Clone)]
pub enum Body {
    Owned(Vec<u8>),
    File {
        dump: std::sync::Arc<crate::spool::Dump>,
        range: std::ops::Range<u64>,
        /// Offset (from the range's start) of one byte sent with its low bit flipped.
        flip: Option<u64>,
    },
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Body({} bytes)", self.len())
    }
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Body::Owned(v) => v.len() as u64,
            Body::File { range, .. } => range.end - range.start,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the first `n` bytes of the body.
    fn write_to(&self, w: &mut impl Write, n: u64) -> io::Result<()> {
        match self {
            Body::Owned(v) => w.write_all(&v[..n as usize]),
            Body::File { dump, range, flip } => {
                use std::io::{Seek, SeekFrom};
                let mut f = std::fs::File::open(&dump.path)?;
                f.seek(SeekFrom::Start(range.start))?;
                let mut left = n;
                let mut at = 0u64;
                let mut buf = vec![0u8; 256 * 1024];
                while left > 0 {
                    let want = left.min(buf.len() as u64) as usize;
                    let got = f.read(&mut buf[..want])?;
                    if got == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "dump file shorter than recorded",
                        ));
                    }
                    if let Some(p) = flip.filter(|p| (at..at + got as u64).contains(p)) {
                        buf[(p - at) as usize] ^= 0x01;
                    }
                    w.write_all(&buf[..got])?;
                    left -= got as u64;
                    at += got as u64;
                }
                Ok(())
            }
        }
    }
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".to_string(), content_type.to_string())],
            body: Body::Owned(body),
            delivery: Delivery::Normal,
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn reset() -> Response {
        Response {
            status: 0,
            headers: Vec::new(),
            body: Body::Owned(Vec::new()),
            delivery: Delivery::Reset,
        }
    }
}

/// Accepts connections forever, each served on its own thread by `handler`.
/// Import uploads are spooled to files in `spool`.
pub fn serve<H>(listener: TcpListener, handler: Arc<H>, verbose: bool, spool: &Path)
where
    H: Fn(&Request) -> Response + Send + Sync + 'static,
{
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let handler = Arc::clone(&handler);
        let spool = spool.to_path_buf();
        let spawned = std::thread::Builder::new()
            .name("conn".into())
            .spawn(move || {
                if let Err(e) = serve_connection(stream, &*handler, verbose, &spool) {
                    if verbose {
                        eprintln!("d1-emulator: connection: {e}");
                    }
                }
            });
        if spawned.is_err() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn serve_connection<H>(
    stream: TcpStream,
    handler: &H,
    verbose: bool,
    spool: &Path,
) -> io::Result<()>
where
    H: Fn(&Request) -> Response,
{
    stream.set_nodelay(true).ok();
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let (req, keep_alive) = match read_request(&mut reader, spool) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(()),
            Err(e) => {
                let body = format!("bad request: {e}\n").into_bytes();
                let resp = Response::new(400, "text/plain", body);
                write_response(&mut writer, "GET", &resp, false).ok();
                return Ok(());
            }
        };
        // The app answers a panic of its own with a 500 (app.rs); this layer knows no envelope.
        let resp = handler(&req);
        if verbose {
            eprintln!(
                "d1-emulator: {} {} -> {}",
                req.method,
                req.path,
                match resp.delivery {
                    Delivery::Reset => "reset".to_string(),
                    _ => resp.status.to_string(),
                }
            );
        }
        match resp.delivery {
            Delivery::Reset => {
                writer.shutdown(Shutdown::Both).ok();
                return Ok(());
            }
            Delivery::Cut { .. } => {
                write_response(&mut writer, &req.method, &resp, false)?;
                writer.shutdown(Shutdown::Both).ok();
                return Ok(());
            }
            Delivery::Normal => {
                write_response(&mut writer, &req.method, &resp, keep_alive)?;
                if !keep_alive {
                    writer.shutdown(Shutdown::Both).ok();
                    return Ok(());
                }
            }
        }
    }
}

fn read_line(reader: &mut BufReader<TcpStream>, budget: &mut usize) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = reader
        .by_ref()
        .take(*budget as u64 + 1)
        .read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if n > *budget {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "header too large",
        ));
    }
    *budget -= n;
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "header is not UTF-8"))
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Reads one request; `None` when the client closed the connection between requests.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    spool: &Path,
) -> io::Result<Option<(Request, bool)>> {
    let mut budget = MAX_HEAD;
    let line = loop {
        match read_line(reader, &mut budget)? {
            None => return Ok(None),
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let mut parts = line.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().ok_or_else(|| invalid("no request target"))?;
    let version = parts.next().unwrap_or("HTTP/1.0");
    if method.is_empty() || !version.starts_with("HTTP/1.") {
        return Err(invalid("malformed request line"));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader, &mut budget)?.ok_or_else(|| invalid("eof in headers"))?;
        if line.is_empty() {
            break;
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| invalid("malformed header"))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let mut req = Request {
        method,
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body: Vec::new(),
        body_file: std::sync::Mutex::new(None),
    };
    let connection = req.header("Connection").unwrap_or("").to_ascii_lowercase();
    let keep_alive = if version == "HTTP/1.0" {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    if req
        .header("Expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        reader
            .get_mut()
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let chunked = req
        .header("Transfer-Encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let spooled = req.method == "PUT" && req.path.starts_with("/uploads/");
    if chunked {
        req.body = read_chunked(reader)?;
        if spooled {
            let mut f = tempfile::NamedTempFile::new_in(spool)?;
            f.write_all(&std::mem::take(&mut req.body))?;
            *req.body_file.get_mut().unwrap_or_else(|e| e.into_inner()) = Some(f.into_temp_path());
        }
    } else if let (true, Some(len)) = (spooled, req.header("Content-Length")) {
        let len: u64 = len.parse().map_err(|_| invalid("bad Content-Length"))?;
        if len > MAX_SPOOLED {
            return Err(invalid("body too large"));
        }
        let mut f = tempfile::NamedTempFile::new_in(spool)?;
        let got = io::copy(&mut reader.by_ref().take(len), f.as_file_mut())?;
        if got < len {
            return Err(invalid("body shorter than Content-Length"));
        }
        *req.body_file.get_mut().unwrap_or_else(|e| e.into_inner()) = Some(f.into_temp_path());
    } else if let Some(len) = req.header("Content-Length") {
        let len: u64 = len.parse().map_err(|_| invalid("bad Content-Length"))?;
        if len > MAX_BODY {
            return Err(invalid("body too large"));
        }
        let mut body = Vec::with_capacity(len.min(1 << 20) as usize);
        reader.by_ref().take(len).read_to_end(&mut body)?;
        if (body.len() as u64) < len {
            return Err(invalid("body shorter than Content-Length"));
        }
        req.body = body;
    }
    Ok(Some((req, keep_alive)))
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut budget = 1024;
        let line = read_line(reader, &mut budget)?.ok_or_else(|| invalid("eof in chunk"))?;
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size_hex, 16).map_err(|_| invalid("bad chunk size"))?;
        if body.len() as u64 + size > MAX_BODY {
            return Err(invalid("body too large"));
        }
        if size == 0 {
            // Trailers, then the empty line.
            loop {
                let mut budget = MAX_HEAD;
                match read_line(reader, &mut budget)? {
                    Some(l) if !l.is_empty() => continue,
                    _ => return Ok(body),
                }
            }
        }
        let start = body.len();
        reader.by_ref().take(size).read_to_end(&mut body)?;
        if ((body.len() - start) as u64) < size {
            return Err(invalid("short chunk"));
        }
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

fn write_response(
    w: &mut TcpStream,
    method: &str,
    resp: &Response,
    keep_alive: bool,
) -> io::Result<()> {
    let (declared, send) = match resp.delivery {
        Delivery::Cut { declared, send } => (declared, send.min(resp.body.len())),
        _ => (resp.body.len(), resp.body.len()),
    };
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {declared}\r\n"));
    head.push_str(if keep_alive {
        "Connection: keep-alive\r\n"
    } else {
        "Connection: close\r\n"
    });
    head.push_str("Server: d1-emulator\r\n\r\n");
    let mut out = io::BufWriter::new(w);
    out.write_all(head.as_bytes())?;
    if method != "HEAD" {
        resp.body.write_to(&mut out, send)?;
    }
    out.flush()
}

/// Decodes `%XX` escapes and `+` (as in form encoding).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn percent_decoding_handles_escapes_plus_and_garbage() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%41"), "A");
    }
}
