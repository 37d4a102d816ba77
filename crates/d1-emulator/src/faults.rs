//! Fault injection: `ENDPOINT:FAULT[:key=val[,key=val...]]`, armed at start (`--fault`) or at
//! run time (`POST /__emulator/faults`), fired in the order armed.

use std::fmt;

/// Which requests a fault (or a request counter) is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    List,
    Get,
    Create,
    Query,
    ExportStart,
    ExportPoll,
    /// Fault-only: either export call.
    Export,
    Download,
    Import,
    Upload,
    /// `GET …/time_travel/bookmark`.
    Bookmark,
    /// `POST …/time_travel/restore`.
    Restore,
    /// Fault-only: either Time Travel call.
    TimeTravel,
    /// `DELETE …/d1/database/{id}`.
    Delete,
    /// Fault-only: every request but the control endpoints.
    Any,
    /// Counter-only: token verification and unknown routes.
    Other,
}

impl Endpoint {
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::List => "list",
            Endpoint::Get => "get",
            Endpoint::Create => "create",
            Endpoint::Query => "query",
            Endpoint::ExportStart => "export-start",
            Endpoint::ExportPoll => "export-poll",
            Endpoint::Export => "export",
            Endpoint::Download => "download",
            Endpoint::Import => "import",
            Endpoint::Upload => "upload",
            Endpoint::Bookmark => "bookmark",
            Endpoint::Restore => "restore",
            Endpoint::TimeTravel => "time-travel",
            Endpoint::Delete => "delete",
            Endpoint::Any => "any",
            Endpoint::Other => "other",
        }
    }

    fn parse(s: &str) -> Option<Endpoint> {
        Some(match s {
            "list" => Endpoint::List,
            "get" => Endpoint::Get,
            "create" => Endpoint::Create,
            "query" => Endpoint::Query,
            "export-start" => Endpoint::ExportStart,
            "export-poll" => Endpoint::ExportPoll,
            "export" => Endpoint::Export,
            "download" => Endpoint::Download,
            "import" => Endpoint::Import,
            "upload" => Endpoint::Upload,
            "bookmark" => Endpoint::Bookmark,
            "restore" => Endpoint::Restore,
            "time-travel" => Endpoint::TimeTravel,
            "delete" => Endpoint::Delete,
            "any" => Endpoint::Any,
            _ => return None,
        })
    }

    /// Does a fault armed for `self` apply to a request classified as `req`?
    fn covers(self, req: Endpoint) -> bool {
        self == req
            || self == Endpoint::Any
            || (self == Endpoint::Export
                && matches!(req, Endpoint::ExportStart | Endpoint::ExportPoll))
            || (self == Endpoint::TimeTravel
                && matches!(req, Endpoint::Bookmark | Endpoint::Restore))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Status(u16),
    Html502,
    Slow,
    Reset,
    ResetMidBody,
    Truncate,
    WrongLength,
    Corrupt,
    NoRange,
    ExportError,
    EtagMismatch,
    /// The download served gzip-compressed with `Content-Encoding: gzip` (as S3/R2 serve an
    /// object stored with that encoding), ETag and length of the compressed bytes.
    Gzip,
    /// A `302` to the same path on `http://2130706433:PORT` (127.0.0.1 as one decimal number):
    /// plain HTTP to a host the tools refuse when it is typed.
    Redirect,
    /// An import that reports complete and writes nothing.
    ImportLost,
    /// An import that waits `ms` before loading (so that its running state can be seen).
    ImportHold,
    /// The database's Time Travel history forgets everything before this request, as if the
    /// window had passed over it (its current bookmark stays).
    Forget,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "429" => Kind::Status(429),
            "500" => Kind::Status(500),
            "503" => Kind::Status(503),
            "502-html" => Kind::Html502,
            "slow" => Kind::Slow,
            "reset" => Kind::Reset,
            "reset-mid-body" => Kind::ResetMidBody,
            "truncate" => Kind::Truncate,
            "wrong-length" => Kind::WrongLength,
            "corrupt" => Kind::Corrupt,
            "no-range" => Kind::NoRange,
            "export-error" => Kind::ExportError,
            "etag-mismatch" => Kind::EtagMismatch,
            "gzip" => Kind::Gzip,
            "redirect" => Kind::Redirect,
            "lost" => Kind::ImportLost,
            "hold" => Kind::ImportHold,
            "forget" => Kind::Forget,
            _ => return None,
        })
    }

    /// The request kinds this fault can act on at all.
    fn only_for(&self) -> Option<Endpoint> {
        match self {
            Kind::ResetMidBody
            | Kind::Truncate
            | Kind::WrongLength
            | Kind::Corrupt
            | Kind::NoRange
            | Kind::Gzip => Some(Endpoint::Download),
            Kind::ExportError => Some(Endpoint::ExportPoll),
            Kind::EtagMismatch => Some(Endpoint::Upload),
            Kind::ImportLost | Kind::ImportHold => Some(Endpoint::Import),
            Kind::Forget => Some(Endpoint::TimeTravel),
            _ => None,
        }
    }
}

/// One armed fault.
#[derive(Debug, Clone)]
pub struct Fault {
    pub endpoint: Endpoint,
    pub kind: Kind,
    /// Requests still to affect; `None` = forever.
    pub remaining: Option<u32>,
    pub retry_after: Option<u64>,
    pub ms: u64,
    /// Bytes of body sent before closing (reset-mid-body, truncate); `None` = half.
    pub after: Option<usize>,
    pub message: Option<String>,
    spec: String,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spec)
    }
}

/// Parses one SPEC; the error is a one-line explanation.
pub fn parse(spec: &str) -> Result<Fault, String> {
    let spec = spec.trim();
    let mut parts = spec.splitn(3, ':');
    let ep = parts.next().unwrap_or("");
    let kind = parts.next().unwrap_or("");
    let keys = parts.next().unwrap_or("");
    let endpoint = Endpoint::parse(ep).ok_or_else(|| {
        format!("fault {spec:?}: unknown endpoint {ep:?} (list, get, query, export-start, export-poll, export, download, import, upload, bookmark, restore, time-travel, delete, any)")
    })?;
    let kind = Kind::parse(kind).ok_or_else(|| {
        format!("fault {spec:?}: unknown fault {kind:?} (429, 500, 503, 502-html, slow, reset, reset-mid-body, truncate, wrong-length, corrupt, no-range, export-error, etag-mismatch, gzip, redirect, lost, hold, forget)")
    })?;
    if let Some(only) = kind.only_for() {
        let fits = endpoint == only
            || endpoint == Endpoint::Any
            || (endpoint == Endpoint::Export && only == Endpoint::ExportPoll)
            || (only == Endpoint::TimeTravel
                && matches!(endpoint, Endpoint::Bookmark | Endpoint::Restore));
        if !fits {
            return Err(format!(
                "fault {spec:?}: this fault only applies to the {} endpoint",
                only.name()
            ));
        }
    }
    let mut fault = Fault {
        endpoint,
        // truncate affects every matching request unless told otherwise.
        remaining: if kind == Kind::Truncate {
            None
        } else {
            Some(1)
        },
        kind,
        retry_after: None,
        ms: 1000,
        after: None,
        message: None,
        spec: spec.to_string(),
    };
    for kv in keys.split(',').filter(|s| !s.is_empty()) {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("fault {spec:?}: expected key=value, got {kv:?}"))?;
        let num = || -> Result<u64, String> {
            v.parse::<u64>()
                .map_err(|_| format!("fault {spec:?}: {k} needs a whole number, got {v:?}"))
        };
        match k {
            "times" => {
                let n = num()?;
                fault.remaining = if n == 0 { None } else { Some(n as u32) };
            }
            "retry_after" if matches!(fault.kind, Kind::Status(_)) => {
                fault.retry_after = Some(num()?)
            }
            "ms" if matches!(fault.kind, Kind::Slow | Kind::ImportHold) => fault.ms = num()?,
            "after" if matches!(fault.kind, Kind::ResetMidBody | Kind::Truncate) => {
                fault.after = Some(num()? as usize)
            }
            "message" if fault.kind == Kind::ExportError => {
                fault.message = Some(v.replace('_', " "))
            }
            _ => {
                return Err(format!(
                    "fault {spec:?}: key {k:?} does not apply to this fault"
                ))
            }
        }
    }
    Ok(fault)
}

/// Parses a text of SPECs, one per line (blank lines and `#` comments ignored).
pub fn parse_many(text: &str) -> Result<Vec<Fault>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(parse)
        .collect()
}

/// The armed faults, in order.
#[derive(Debug, Default)]
pub struct Faults {
    armed: Vec<Fault>,
}

impl Faults {
    pub fn arm(&mut self, faults: Vec<Fault>) {
        self.armed.extend(faults);
    }

    pub fn clear(&mut self) {
        self.armed.clear();
    }

    pub fn pending(&self) -> usize {
        self.armed.len()
    }

    /// Takes the first armed fault that applies to a request of kind `req`; `head` requests get
    /// no body faults. Consumes one use of it.
    pub fn take(&mut self, req: Endpoint, head: bool) -> Option<Fault> {
        self.take_if(req, head, |_| true)
    }

    /// `take`, among the faults whose kind `fits` (an import's own faults wait for its ingest).
    pub fn take_if(
        &mut self,
        req: Endpoint,
        head: bool,
        fits: impl Fn(&Kind) -> bool,
    ) -> Option<Fault> {
        let idx = self.armed.iter().position(|f| {
            fits(&f.kind)
                && f.endpoint.covers(req)
                && f.kind.only_for().is_none_or(|only| only.covers(req))
                && !(head && f.kind.only_for() == Some(Endpoint::Download))
        })?;
        let fault = self.armed[idx].clone();
        if let Some(n) = self.armed[idx].remaining.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.armed.remove(idx);
            }
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_keys_and_defaults() {
        let f = parse("export-start:429:retry_after=3,times=2").unwrap();
        assert_eq!(f.endpoint, Endpoint::ExportStart);
        assert_eq!(f.kind, Kind::Status(429));
        assert_eq!(f.retry_after, Some(3));
        assert_eq!(f.remaining, Some(2));
        assert_eq!(parse("download:truncate:after=10").unwrap().remaining, None);
        assert_eq!(parse("any:reset:times=0").unwrap().remaining, None);
        let e = parse("export-poll:export-error:message=disk_on_fire").unwrap();
        assert_eq!(e.message.as_deref(), Some("disk on fire"));
    }

    #[test]
    fn malformed_specs_are_refused() {
        assert!(parse("nowhere:500").is_err());
        assert!(parse("list:teapot").is_err());
        assert!(parse("list:corrupt").is_err());
        assert!(parse("list:500:ms=3").is_err());
        assert!(parse("list:500:times=x").is_err());
        assert!(parse("list:500:times").is_err());
    }

    #[test]
    fn faults_fire_in_order_and_wear_out() {
        let mut fs = Faults::default();
        fs.arm(parse_many("export:500\nexport-poll:429:times=2\n").unwrap());
        assert_eq!(fs.take(Endpoint::List, false).map(|f| f.kind), None);
        assert_eq!(
            fs.take(Endpoint::ExportPoll, false).unwrap().kind,
            Kind::Status(500)
        );
        assert_eq!(
            fs.take(Endpoint::ExportPoll, false).unwrap().kind,
            Kind::Status(429)
        );
        assert_eq!(
            fs.take(Endpoint::ExportPoll, false).unwrap().kind,
            Kind::Status(429)
        );
        assert!(fs.take(Endpoint::ExportPoll, false).is_none());
        assert_eq!(fs.pending(), 0);
        fs.arm(vec![parse("any:redirect").unwrap()]);
        assert_eq!(
            fs.take(Endpoint::Query, false).unwrap().kind,
            Kind::Redirect
        );
        assert!(parse("list:gzip").is_err());
        assert_eq!(parse("download:gzip").unwrap().kind, Kind::Gzip);
        fs.arm(vec![parse("any:corrupt").unwrap()]);
        assert!(fs.take(Endpoint::List, false).is_none());
        assert!(fs.take(Endpoint::Download, true).is_none());
        assert!(fs.take(Endpoint::Download, false).is_some());
    }
}
