//! Cloudflare's JSON envelope (docs/d1-emulator.md, "Endpoints"), decoded into a result or a typed
//! error. A body that is not JSON (an HTML 502 page from the edge) is an error that says so.

use serde_json::Value;

/// One entry of the envelope's `errors`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiMessage {
    pub code: Option<i64>,
    pub message: String,
}

/// A failed API call, before it is mapped to an exit code.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub errors: Vec<ApiMessage>,
    /// Set when the body was not a Cloudflare envelope: what it was instead.
    pub not_json: Option<String>,
}

impl ApiError {
    /// `HTTP 403: [7403] The given account is not valid...; [10000] ...`
    pub fn describe(&self) -> String {
        if let Some(what) = &self.not_json {
            return format!("HTTP {} with a non-JSON body ({what})", self.status);
        }
        let errs: Vec<String> = self
            .errors
            .iter()
            .map(|e| match e.code {
                Some(c) => format!("[{c}] {}", e.message),
                None => e.message.clone(),
            })
            .collect();
        if errs.is_empty() {
            format!("HTTP {}", self.status)
        } else {
            format!("HTTP {}: {}", self.status, errs.join("; "))
        }
    }

    pub fn has_code(&self, code: i64) -> bool {
        self.errors.iter().any(|e| e.code == Some(code))
    }

    pub fn mentions(&self, needle: &str) -> bool {
        let n = needle.to_ascii_lowercase();
        self.errors
            .iter()
            .any(|e| e.message.to_ascii_lowercase().contains(&n))
    }
}

/// Decodes a response body. `Ok` is the envelope's `result` (`null` when absent) together with
/// its `messages`; any non-success is an [`ApiError`].
pub fn decode(
    status: u16,
    content_type: &str,
    body: &[u8],
) -> Result<(Value, Vec<String>), ApiError> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let Some(Value::Object(obj)) = parsed else {
        return Err(ApiError {
            status,
            errors: Vec::new(),
            not_json: Some(describe_non_json(content_type, body)),
        });
    };
    let errors = obj
        .get("errors")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(message).collect())
        .unwrap_or_default();
    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|m| message(m).message).collect())
        .unwrap_or_default();
    let success = obj.get("success").and_then(Value::as_bool) == Some(true);
    if success && (200..300).contains(&status) {
        Ok((obj.get("result").cloned().unwrap_or(Value::Null), messages))
    } else {
        Err(ApiError {
            status,
            errors,
            not_json: None,
        })
    }
}

fn message(v: &Value) -> ApiMessage {
    match v {
        Value::String(s) => ApiMessage {
            code: None,
            message: s.clone(),
        },
        Value::Object(o) => ApiMessage {
            code: o.get("code").and_then(Value::as_i64),
            message: o
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        },
        other => ApiMessage {
            code: None,
            message: other.to_string(),
        },
    }
}

/// `text/html: "502 Bad Gateway"` — the page title if there is one, else the first words.
fn describe_non_json(content_type: &str, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    let lower = text.to_ascii_lowercase();
    let snippet = match (lower.find("<title>"), lower.find("</title>")) {
        (Some(a), Some(b)) if b > a + 7 => text[a + 7..b].trim().to_string(),
        _ => text.split_whitespace().collect::<Vec<_>>().join(" "),
    };
    let snippet: String = snippet.chars().take(80).collect();
    let ct = if content_type.is_empty() {
        "no content type"
    } else {
        content_type
    };
    if snippet.is_empty() {
        format!("{ct}, empty")
    } else {
        format!("{ct}: {snippet:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_yields_result_and_messages() {
        let body = br#"{"success":true,"errors":[],"messages":["hi"],"result":{"a":1}}"#;
        let (r, m) = decode(200, "application/json", body).unwrap();
        assert_eq!(r["a"], 1);
        assert_eq!(m, vec!["hi".to_string()]);
    }

    #[test]
    fn failure_carries_codes_and_messages() {
        let body = br#"{"success":false,"errors":[{"code":7404,"message":"not found"}],"messages":[],"result":null}"#;
        let e = decode(404, "application/json", body).unwrap_err();
        assert!(e.has_code(7404));
        assert_eq!(e.describe(), "HTTP 404: [7404] not found");
    }

    #[test]
    fn html_page_is_an_error_that_says_so() {
        let body =
            b"<html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>";
        let e = decode(502, "text/html", body).unwrap_err();
        assert_eq!(
            e.describe(),
            "HTTP 502 with a non-JSON body (text/html: \"502 Bad Gateway\")"
        );
    }

    #[test]
    fn garbage_never_panics() {
        for body in [
            &b""[..],
            b"null",
            b"[1,2]",
            b"{\"success\":\"yes\"}",
            b"\xff\xfe",
        ] {
            assert!(decode(200, "", body).is_err());
        }
    }
}
