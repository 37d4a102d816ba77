//! HTTPS only, except loopback (docs/README.md, "Rules every tool keeps"): a token or a dump must
//! never cross a network in clear text; plain HTTP is allowed for the emulator on 127.0.0.1.

use crate::error::{Error, Result};

/// Accepts `https://…` anywhere and `http://…` only on a loopback host, made only of the
/// characters a URL may hold (RFC 3986): no spaces, no control characters, nothing a record
/// line or a terminal would read differently (a newline in a URL would forge a second record).
pub fn check(url: &str) -> Result<()> {
    let shown = crate::redact::url(&crate::msg::printable(url));
    if let Some((i, c)) = url.char_indices().find(|&(_, c)| !is_url_char(c)) {
        return Err(Error::usage(format!(
            "invalid character {c:?} at byte {i} of the URL {shown} (percent-encode it)"
        )));
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| Error::usage(format!("not a URL: {shown}")))?;
    let host = host_of(rest);
    if host.is_empty() {
        return Err(Error::usage(format!("URL has no host: {shown}")));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(()),
        "http" if is_loopback(host) => Ok(()),
        "http" => Err(Error::usage(format!(
            "refusing plain http to a non-loopback host: {shown} (use https)"
        ))),
        _ => Err(Error::usage(format!(
            "unsupported URL scheme {scheme:?}: {shown} (use https)"
        ))),
    }
}

/// Unreserved, reserved and `%` (RFC 3986, section 2).
fn is_url_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c)
}

/// The host part of `host:port/path?query`, brackets kept for IPv6.
pub fn host_of(after_scheme: &str) -> &str {
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map(|i| &authority[..=i])
            .unwrap_or(authority);
    }
    authority.split(':').next().unwrap_or_default()
}

/// `localhost`, `127.x.y.z` (dotted, four parts) or `[::1]`. Other spellings of a loopback
/// address (`2130706433`, `0x7f.1`) are not recognised, so they are refused for plain HTTP.
pub fn is_loopback(host: &str) -> bool {
    let h = host.to_ascii_lowercase();
    h == "localhost"
        || h == "[::1]"
        || h.strip_prefix("127.").is_some_and(|r| {
            r.split('.').count() == 3 && r.split('.').all(|p| p.parse::<u8>().is_ok())
        })
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn https_anywhere_http_only_on_loopback() {
        assert!(check("https://api.cloudflare.com/client/v4").is_ok());
        assert!(check("http://127.0.0.1:8787/client/v4").is_ok());
        assert!(check("http://localhost/x").is_ok());
        assert!(check("http://[::1]:80/x").is_ok());
        let e = check("http://example.com/d.sql?sig=s3cret").unwrap_err();
        assert_eq!(e.code(), crate::ExitCode::Usage);
        assert!(!e.message.contains("s3cret"));
        assert!(check("http://127.0.0.1.evil.com/").is_err());
        assert!(check("http://user@evil.com:80/127.0.0.1").is_err());
        assert!(check("ftp://127.0.0.1/x").is_err());
        assert!(check("not a url").is_err());
    }

    #[test]
    fn characters_a_url_cannot_hold_are_a_usage_error() {
        for bad in [
            "https://h/a b.sql",
            "https://h/a.sql?s=1\nforged https://evil/x",
            "https://h/a\u{1b}[31m",
            "https://h/a^b",
            "https://h/\u{e9}",
        ] {
            let e = check(bad).unwrap_err();
            assert_eq!(e.code(), crate::ExitCode::Usage, "{bad:?}");
            assert!(e.message.contains("invalid character"), "{}", e.message);
            assert!(!e.message.contains('\n') && !e.message.contains('\u{1b}'));
        }
        assert!(check("https://h/a%20b.sql?X-Amz-Signature=ab&x=%2F").is_ok());
    }
}
