//! D1's "Currently processing a long-running export": the database is held by an export — one
//! running now, or one that failed (on a virtual table) and still holds it until D1 times it
//! out. Every query and every new export start is refused meanwhile (docs/sharp-edges.md).
//!
//! It is recognised here, once, for every endpoint: it is exit 75 (a scheduler may try again
//! later), and it is **not** retried within the run. The lock lasts as long as another export,
//! or minutes after a failed one; our backoff spans seconds, so retries would only add requests
//! (and, for an export start, risk piling onto the lock) without changing the outcome.

use crate::envelope::ApiError;

/// The words D1 answers with (`D1_ERROR: Currently processing a long-running export.`).
pub const MARKER: &str = "Currently processing a long-running export";

/// What the user is told, before D1's own words.
pub const HINT: &str = "the database is busy with another export (or a failed one still holds \
it); D1 releases it after the export ends or times out: try again in a few minutes";

/// Whether an API error is D1's busy-with-an-export refusal, whatever its HTTP status.
pub fn is_busy(api: &ApiError) -> bool {
    api.mentions(MARKER)
}

/// The one-line message for a busy refusal: the hint, then D1's answer in parentheses.
pub fn describe(api: &ApiError) -> String {
    format!("{HINT} ({})", api.describe())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::decode;

    #[test]
    fn the_refusal_is_recognised_in_any_status_and_case() {
        for status in [400, 409, 500, 503] {
            let body = br#"{"success":false,"errors":[{"code":7500,"message":"D1_ERROR: Currently processing a long-running export."}]}"#;
            let e = decode(status, "application/json", body).unwrap_err();
            assert!(is_busy(&e), "{status}");
        }
        let other = decode(
            400,
            "application/json",
            br#"{"success":false,"errors":[{"code":7500,"message":"no such table: x: SQLITE_ERROR"}]}"#,
        )
        .unwrap_err();
        assert!(!is_busy(&other));
    }

    #[test]
    fn the_message_says_what_to_do_then_quotes_d1() {
        let body = br#"{"success":false,"errors":[{"code":7500,"message":"D1_ERROR: Currently processing a long-running export."}]}"#;
        let e = decode(400, "application/json", body).unwrap_err();
        assert_eq!(
            describe(&e),
            "the database is busy with another export (or a failed one still holds it); D1 \
             releases it after the export ends or times out: try again in a few minutes \
             (HTTP 400: [7500] D1_ERROR: Currently processing a long-running export.)"
        );
    }
}
