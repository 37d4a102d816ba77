//! The one HTTP layer of the d1-tools (issue 18): the agent every request goes through, with an
//! explicit policy on redirects, proxies and content encodings, and the header helpers that the
//! API client, the download and the upload share. Retries live in [`crate::retry::run`].
//!
//! - **No gzip decoding** (ureq is built without its `gzip` feature): the bytes stored and
//!   checksummed are the bytes the server served.
//! - **No redirects, ever.** An API call carries the bearer token and a signed URL carries its
//!   signature: neither may be sent on to wherever a `Location` points (a redirect to
//!   `http://2130706433:PORT/` is plain HTTP to a host the tools refuse when typed). A 3xx is
//!   reported as such (exit 1); docs/d1-fetch.md says redirects are not followed.
//! - **Proxies like curl, never for loopback.** Plain HTTP is allowed to loopback only because
//!   that traffic never leaves the host; sending it to a proxy would put the token on the wire
//!   in clear. Other hosts use `https_proxy`/`HTTPS_PROXY` (https) or `http_proxy` (http), then
//!   `all_proxy`/`ALL_PROXY`, unless `no_proxy`/`NO_PROXY` names them.

use crate::error::{Error, Result};
use std::time::Duration;

/// How long a TCP (and TLS) connection may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("d1-tools/", env!("CARGO_PKG_VERSION"));

/// Agent settings a caller adds to the shared ones (timeouts).
pub type Builder = ureq::config::ConfigBuilder<ureq::typestate::AgentScope>;

/// An agent for requests to `target` (the proxy is chosen for its host): HTTP errors come back
/// as responses (so that envelopes and S3 errors are read), no redirects, the connect timeout,
/// then whatever `tune` adds.
pub fn agent(target: &str, tune: impl FnOnce(Builder) -> Builder) -> Result<ureq::Agent> {
    let builder = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .user_agent(USER_AGENT)
        .max_redirects(0)
        .proxy(proxy_for(target)?);
    Ok(tune(builder).build().into())
}

/// The proxy for requests to `url`, from the environment (see the module comment).
pub fn proxy_for(url: &str) -> Result<Option<ureq::Proxy>> {
    let Some(p) = proxy_url(url, |k| std::env::var(k).ok()) else {
        return Ok(None);
    };
    ureq::Proxy::new(&p).map(Some).map_err(|_| {
        Error::usage(format!(
            "invalid proxy setting {:?} in the environment (https_proxy, http_proxy, all_proxy)",
            crate::redact::redact(&p)
        ))
    })
}

/// Which proxy URL the environment (`env`) asks for when requesting `url`; `None`: connect
/// directly. Loopback hosts never use a proxy, whatever the environment says.
pub fn proxy_url(url: &str, env: impl Fn(&str) -> Option<String>) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = crate::url::host_of(rest);
    if crate::url::is_loopback(host) {
        return None;
    }
    let get = |names: &[&str]| {
        names
            .iter()
            .filter_map(|n| env(n))
            .find(|v| !v.trim().is_empty())
    };
    if let Some(list) = get(&["no_proxy", "NO_PROXY"]) {
        if no_proxy_matches(&list, host) {
            return None;
        }
    }
    // curl reads only the lower-case http_proxy: a CGI program gets HTTP_PROXY from a
    // request's `Proxy:` header ("httpoxy").
    let by_scheme: &[&str] = if scheme.eq_ignore_ascii_case("https") {
        &["https_proxy", "HTTPS_PROXY"]
    } else {
        &["http_proxy"]
    };
    get(by_scheme).or_else(|| get(&["all_proxy", "ALL_PROXY"]))
}

/// Whether a `NO_PROXY` list names `host`, as curl reads it: comma-separated names, `*` for
/// every host, a name matches itself and its subdomains (a leading dot is ignored), an IP
/// address matches itself; ports are ignored.
pub fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    list.split(',').map(str::trim).any(|entry| {
        if entry == "*" {
            return true;
        }
        let mut e = entry.to_ascii_lowercase();
        if let Some(stripped) = e.strip_prefix('[') {
            e = stripped.split(']').next().unwrap_or_default().to_string();
        } else if e.matches(':').count() == 1 {
            // name:port
            e = e.split(':').next().unwrap_or_default().to_string();
        }
        let e = e.trim_start_matches("*.").trim_start_matches('.');
        !e.is_empty() && (host == e || host.strip_suffix(e).is_some_and(|rest| rest.ends_with('.')))
    })
}

/// A response header as text.
pub fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The `Retry-After` header in seconds (see [`crate::retry::parse_retry_after`]).
pub fn retry_after(resp: &ureq::http::Response<ureq::Body>) -> Option<Duration> {
    header(resp, "retry-after").and_then(|v| crate::retry::parse_retry_after(&v))
}

/// An ETag without its quotes (and a weak `W/` marker kept), lowercase.
pub fn etag_value(etag: &str) -> String {
    etag.trim().trim_matches('"').to_ascii_lowercase()
}

/// The ETag as an MD5 digest, when it is one: 32 hex digits once quotes are stripped. Multipart
/// ETags (`...-N`) and weak ones are not digests of the body and are not checked.
pub fn etag_md5(etag: &str) -> Option<String> {
    let e = etag_value(etag);
    (e.len() == 32 && e.bytes().all(|b| b.is_ascii_hexdigit())).then_some(e)
}

/// The error for a 3xx answer: redirects are not followed (see the module comment).
pub fn redirect_refused(status: u16, location: Option<&str>) -> Error {
    let to = location
        .map(|l| format!(" to {}", crate::redact::url(&crate::msg::printable(l))))
        .unwrap_or_default();
    Error::failed(format!(
        "the server answered a redirect (HTTP {status}{to}); redirects are not followed"
    ))
}

/// Whether a transport-level failure is worth another attempt. Malformed URLs, TLS
/// configuration problems and oversized bodies will not fix themselves.
pub fn transport_retryable(e: &ureq::Error) -> bool {
    !matches!(
        e,
        ureq::Error::BadUri(_)
            | ureq::Error::Http(_)
            | ureq::Error::InvalidProxyUrl
            | ureq::Error::Tls(_)
            | ureq::Error::Rustls(_)
            | ureq::Error::TooManyRedirects
            | ureq::Error::RedirectFailed
            | ureq::Error::BodyExceedsLimit(_)
    )
}

/// A transport error as one redacted line.
pub fn describe_transport(e: &ureq::Error) -> String {
    let text = match e {
        ureq::Error::Timeout(_) => "timed out".to_string(),
        ureq::Error::HostNotFound => "host not found".to_string(),
        ureq::Error::ConnectionFailed => "connection failed".to_string(),
        ureq::Error::BodyExceedsLimit(n) => format!("the answer is larger than {n} bytes"),
        ureq::Error::Io(io) => format!("connection error: {io}"),
        other => other.to_string(),
    };
    crate::redact::redact(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn loopback_never_goes_through_a_proxy() {
        let all = [
            ("HTTP_PROXY", "http://proxy:1"),
            ("http_proxy", "http://proxy:1"),
            ("HTTPS_PROXY", "http://proxy:1"),
            ("ALL_PROXY", "socks5://proxy:1"),
        ];
        for url in [
            "http://127.0.0.1:8787/client/v4",
            "http://localhost/x",
            "https://127.0.0.1/x",
            "http://[::1]:9/x",
        ] {
            assert_eq!(proxy_url(url, env(&all)), None, "{url}");
        }
    }

    #[test]
    fn other_hosts_use_the_proxy_for_their_scheme_like_curl() {
        let vars = [
            ("HTTPS_PROXY", "http://sp:1"),
            ("ALL_PROXY", "socks5://ap:1"),
        ];
        assert_eq!(
            proxy_url("https://api.cloudflare.com/x", env(&vars)).as_deref(),
            Some("http://sp:1")
        );
        assert_eq!(
            proxy_url("http://example.com/x", env(&vars)).as_deref(),
            Some("socks5://ap:1")
        );
        // Upper-case HTTP_PROXY is not read (httpoxy), as in curl.
        assert_eq!(
            proxy_url("http://example.com/x", env(&[("HTTP_PROXY", "http://p:1")])),
            None
        );
        assert_eq!(proxy_url("https://example.com/x", env(&[])), None);
    }

    #[test]
    fn no_proxy_is_read_like_curl() {
        let vars = [
            ("https_proxy", "http://p:1"),
            ("NO_PROXY", "internal.example, .corp:443 ,10.0.0.7"),
        ];
        for direct in [
            "https://internal.example/x",
            "https://a.internal.example/x",
            "https://corp/x",
            "https://r2.corp/x",
            "https://10.0.0.7:8443/x",
        ] {
            assert_eq!(proxy_url(direct, env(&vars)), None, "{direct}");
        }
        for proxied in ["https://notinternal.example/x", "https://10.0.0.70/x"] {
            assert!(proxy_url(proxied, env(&vars)).is_some(), "{proxied}");
        }
        assert!(no_proxy_matches("*", "anything"));
        assert!(!no_proxy_matches("", "anything"));
    }

    #[test]
    fn etags_are_compared_without_quotes_or_case() {
        assert_eq!(etag_value("\"ABCdef\""), "abcdef");
        assert_eq!(
            etag_md5("\"D41D8CD98F00B204E9800998ECF8427E\"").as_deref(),
            Some("d41d8cd98f00b204e9800998ecf8427e")
        );
        assert_eq!(etag_md5("\"d41d8cd98f00b204e9800998ecf8427e-3\""), None);
        assert_eq!(etag_md5("W/\"abc\""), None);
        assert_eq!(etag_md5(""), None);
    }

    #[test]
    fn oversized_bodies_and_bad_uris_are_not_retried() {
        assert!(!transport_retryable(&ureq::Error::BodyExceedsLimit(1)));
        assert!(transport_retryable(&ureq::Error::ConnectionFailed));
    }
}
