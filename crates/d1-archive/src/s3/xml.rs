//! An object store (R2, S3-compatible) answers errors as XML, not in Cloudflare's JSON
//! envelope: `<Error><Code>AccessDenied</Code><Message>Request has expired</Message>…`. The S3
//! client reads it, and so do d1-fetch and d1-import for the signed URLs D1 hands out (they
//! point at R2).

/// The text of the first `<name>…</name>` element of an XML body, trimmed and bounded (the body
/// comes from a server); `None` when there is none.
pub fn tag(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find('<')? + start;
    let text: String = body[start..end].chars().take(200).collect();
    Some(text.trim().to_string())
}

/// `Code: Message` from an S3 XML error body, or `None` when the body is not one.
pub fn error_summary(body: &str) -> Option<String> {
    match (tag(body, "Code"), tag(body, "Message")) {
        (Some(c), Some(m)) => Some(format!("{c}: {m}")),
        (Some(c), None) => Some(c),
        (None, Some(m)) => Some(m),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::error_summary;

    #[test]
    fn code_and_message_are_summarised_and_other_bodies_are_none() {
        let xml = "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code>\
                   <Message>Request has expired</Message></Error>";
        assert_eq!(
            error_summary(xml).as_deref(),
            Some("AccessDenied: Request has expired")
        );
        assert_eq!(
            error_summary("<Error><Code>SignatureDoesNotMatch</Code></Error>").as_deref(),
            Some("SignatureDoesNotMatch")
        );
        assert_eq!(error_summary("<html>502</html>"), None);
    }
}
