//! What d1-export-start and d1-export-wait share about an export beyond the endpoint itself:
//! how a bookmark must look to travel in a record line, and how a failed export is reported.

use crate::api::ExportAnswer;
use crate::error::{Error, Result};

/// Bookmarks seen from D1 are short tokens of hex and dashes; anything far longer is not one.
pub const MAX_BOOKMARK: usize = 1024;

/// Checks a bookmark (from the server or from a record line): non-empty, printable ASCII
/// without spaces (it travels as one field of a line), and of a sane length.
pub fn check_bookmark(b: &str) -> Result<()> {
    if b.is_empty() {
        return Err(Error::usage("empty bookmark"));
    }
    if b.len() > MAX_BOOKMARK {
        return Err(Error::usage(format!(
            "bookmark longer than {MAX_BOOKMARK} characters"
        )));
    }
    if !b.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Error::usage(
            "bookmark holds characters other than printable ASCII",
        ));
    }
    Ok(())
}

/// One line for an export that ended with `status: "error"`: the server's `error`, then its
/// `messages` that add something (docs/d1-emulator.md, "Export": report `error` and the
/// `messages`).
pub fn describe_failure(ans: &ExportAnswer) -> String {
    let error = ans
        .error
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .unwrap_or("the export ended with status error and no error message");
    let extra: Vec<&str> = ans
        .messages
        .iter()
        .map(|m| m.trim())
        .filter(|m| !m.is_empty() && *m != error)
        .collect();
    if extra.is_empty() {
        error.to_string()
    } else {
        format!("{error} (messages: {})", extra.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn failure_names_the_error_then_the_other_messages_once() {
        let a = ExportAnswer::from_json(json!({"status":"error","error":"D1 Export error: boom",
            "messages":["Uploaded part 2","D1 Export error: boom"]}));
        assert_eq!(
            describe_failure(&a),
            "D1 Export error: boom (messages: Uploaded part 2)"
        );
        let bare = ExportAnswer::from_json(json!({"status":"error"}));
        assert_eq!(
            describe_failure(&bare),
            "the export ended with status error and no error message"
        );
    }

    #[test]
    fn bookmarks_are_one_printable_field() {
        assert!(check_bookmark("00000001-00000002-0c7fd0a4-3f2a").is_ok());
        assert!(check_bookmark("").is_err());
        assert!(check_bookmark("a b").is_err());
        assert!(check_bookmark("bm\u{7f}").is_err());
        assert!(check_bookmark(&"x".repeat(MAX_BOOKMARK + 1)).is_err());
    }
}
