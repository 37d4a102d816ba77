//! Cloudflare's JSON envelope and the emulator's other canned bodies.

use crate::http::Response;
use serde_json::{json, Value};

/// `{"success":true,"errors":[],"messages":[],"result":...}` with HTTP 200.
pub fn ok(result: Value) -> Response {
    json_response(
        200,
        &json!({"success": true, "errors": [], "messages": [], "result": result}),
    )
}

/// Like `ok`, with extra top-level fields (`result_info`).
pub fn ok_with(result: Value, extra: &[(&str, Value)]) -> Response {
    let mut v = json!({"success": true, "errors": [], "messages": [], "result": result});
    if let Some(obj) = v.as_object_mut() {
        for (k, x) in extra {
            obj.insert((*k).to_string(), x.clone());
        }
    }
    json_response(200, &v)
}

/// Success envelope around an already serialized `result` (keeps column order in query rows).
pub fn ok_raw(result_json: &str) -> Response {
    let body = format!(r#"{{"success":true,"errors":[],"messages":[],"result":{result_json}}}"#);
    Response::new(200, "application/json", body.into_bytes())
}

/// `{"success":false,"errors":[{"code":..,"message":..}],"messages":[],"result":null}`.
pub fn error(status: u16, code: u32, message: &str) -> Response {
    json_response(
        status,
        &json!({"success": false, "errors": [{"code": code, "message": message}],
                "messages": [], "result": null}),
    )
}

pub fn json_response(status: u16, v: &Value) -> Response {
    Response::new(status, "application/json", v.to_string().into_bytes())
}

/// An S3-style XML error, as the object store behind signed URLs answers.
pub fn s3_error(status: u16, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>d1-emulator</RequestId></Error>"
    );
    Response::new(status, "application/xml", body.into_bytes())
}

/// The HTML page Cloudflare's edge serves for a 502.
pub fn html_502() -> Response {
    let body = "<!DOCTYPE html>\n<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n<center><h1>502 Bad Gateway</h1></center>\n<hr><center>cloudflare</center>\n</body>\n</html>\n";
    Response::new(502, "text/html", body.as_bytes().to_vec())
}
