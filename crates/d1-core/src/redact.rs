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

/// Masks registered secrets and the query string of every URL (any scheme) and every word
/// that carries a signature in `text`.
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

/// Keys whose value authorises a request: a word holding one is a signed URL (or part of one)
/// whatever its scheme, or none (AWS SigV4/SigV2, Google, Azure SAS, CloudFront, tokens).
const SIGNING_KEYS: &[&str] = &[
    "x-amz-signature=",
    "x-amz-credential=",
    "x-amz-security-token=",
    "x-goog-signature=",
    "x-goog-credential=",
    "signature=",
    "sig=",
    "token=",
    "access_token=",
    "key-pair-id=",
    "policy=",
];

/// Masks the query of every word that is a URL with a query (any scheme: `ftp://h/x?q`,
/// `https:/h/x?q`), and of every word that carries a signing key (`…&X-Amz-Signature=…`), so
/// that a signature is never printed whatever shape the text around it has.
fn mask_url_queries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word_start = 0;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        if is_boundary(c) {
            out.push_str(&mask_word(&text[word_start..i]));
            if i < text.len() {
                out.push(c);
            }
            word_start = i + c.len_utf8();
        }
    }
    out
}

/// A URL ends at whitespace or a character that cannot appear unescaped in one.
fn is_boundary(c: char) -> bool {
    c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '<' | '>' | '`' | '(' | ')')
}

fn mask_word(w: &str) -> String {
    let lower = w.to_ascii_lowercase();
    let key_at = SIGNING_KEYS
        .iter()
        .filter_map(|k| {
            lower.match_indices(k).map(|(i, _)| i).find(|&i| {
                i == 0 || matches!(lower.as_bytes()[i - 1], b'?' | b'&' | b';' | b'=' | b',')
            })
        })
        .min();
    match (w.find('?'), key_at) {
        (Some(q), _) if looks_like_url(&lower[..q]) || key_at.is_some_and(|k| k > q) => {
            format!("{}?{MASK}", &w[..q])
        }
        (_, Some(k)) => format!("{}{MASK}", &w[..k]),
        _ => w.to_string(),
    }
}

/// `scheme:/…` or `scheme://…` (any scheme), or a bare `host/path` with a dot in the host.
fn looks_like_url(before_query: &str) -> bool {
    let scheme_end = before_query.find(':');
    if let Some(e) = scheme_end {
        let scheme = &before_query[..e];
        let after = &before_query[e + 1..];
        let scheme_ok = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if scheme_ok && after.starts_with('/') {
            return true;
        }
    }
    before_query.contains("://")
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

    #[test]
    fn signatures_are_masked_whatever_the_scheme_or_shape() {
        for (text, want) in [
            ("ftp://h/x?X-Amz-Signature=S1", "ftp://h/x?[REDACTED]"),
            (
                "https:/h/d.sql?X-Amz-Signature=S1",
                "https:/h/d.sql?[REDACTED]",
            ),
            ("HTTPS://H/d.sql?a=1", "HTTPS://H/d.sql?[REDACTED]"),
            ("s3://b/k?sig=S1 next", "s3://b/k?[REDACTED] next"),
            (
                "see h.example/d.sql?sig=S1.",
                "see h.example/d.sql?[REDACTED]",
            ),
            ("q: a=1&X-Amz-Signature=S1&b=2", "q: a=1&[REDACTED]"),
            ("Signature=S1", "[REDACTED]"),
            ("url=//h/x?token=S1", "url=//h/x?[REDACTED]"),
            ("(h/x?Expires=1&Signature=S1)", "(h/x?[REDACTED])"),
            ("what?no signature here", "what?no signature here"),
            ("a design=good", "a design=good"),
        ] {
            let got = redact(text);
            assert_eq!(got, want, "{text}");
            assert!(!got.contains("S1"), "{got}");
        }
    }
}
