//! Secrets never reach stdout/stderr logs: the API token and every signed URL's query string
//! (its signature) are masked in every message, including errors that ureq formats itself.

use std::sync::RwLock;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// What a secret is replaced with.
pub const MASK: &str = "[REDACTED]";

/// Registers a secret (the token) to be masked wherever it appears.
pub fn add_secret(secret: &str) {
    // Very short strings would mask ordinary words; a real token is 40 characters.
    if secret.len() < 4 {
        return;
    }
    if let Ok(mut s) = SECRETS.write() {
        if !s.iter().any(|x| x == secret) {
            s.push(secret.to_string());
        }
    }
}

/// Masks registered secrets and the query string of every http(s) URL in `text`.
pub fn redact(text: &str) -> String {
    let mut out = mask_url_queries(text);
    if let Ok(secrets) = SECRETS.read() {
        for s in secrets.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
    }
    out
}

/// A URL for messages: scheme, host and path, query masked.
pub fn url(u: &str) -> String {
    mask_url_queries(u)
}

fn mask_url_queries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = find_url(rest) {
        out.push_str(&rest[..start]);
        let url_and_more = &rest[start..];
        // A URL ends at whitespace or a character that cannot appear unescaped in one.
        let end = url_and_more
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | ')'))
            .unwrap_or(url_and_more.len());
        let u = &url_and_more[..end];
        match u.find('?') {
            Some(q) => {
                out.push_str(&u[..q]);
                out.push('?');
                out.push_str(MASK);
            }
            None => out.push_str(u),
        }
        rest = &url_and_more[end..];
    }
    out.push_str(rest);
    out
}

fn find_url(s: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    match (lower.find("http://"), lower.find("https://")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_url_query_is_masked() {
        let m = redact("GET https://h.example/d.sql?X-Amz-Signature=abc&e=1 failed: 403");
        assert_eq!(m, "GET https://h.example/d.sql?[REDACTED] failed: 403");
    }

    #[test]
    fn registered_token_is_masked_anywhere() {
        add_secret("tok-SECRET-123");
        assert_eq!(
            redact("bearer tok-SECRET-123 denied"),
            "bearer [REDACTED] denied"
        );
    }

    #[test]
    fn url_without_query_is_kept_and_quotes_end_it() {
        let m = redact("\"http://127.0.0.1:1/a?b=c\" and http://x/y");
        assert_eq!(m, "\"http://127.0.0.1:1/a?[REDACTED]\" and http://x/y");
    }
}
