//! A command-line argument detached from the lexopt parser. `Parser::next` lends out an `Arg`
//! that borrows the parser, so it cannot be handed to [`crate::cli::Common::parse`] together
//! with `&mut parser` (which it needs for option values). Detaching first makes that work:
//!
//! ```text
//! while let Some(arg) = p.next()? {
//!     let owned = OwnedArg::from(arg);
//!     let arg = owned.as_arg();
//!     if common.parse(&arg, &mut p, HELP)? { continue; }
//!     match arg { ... }
//! }
//! ```

use lexopt::Arg;
use std::ffi::OsString;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedArg {
    Short(char),
    Long(String),
    Value(OsString),
}

impl From<Arg<'_>> for OwnedArg {
    fn from(a: Arg<'_>) -> OwnedArg {
        match a {
            Arg::Short(c) => OwnedArg::Short(c),
            Arg::Long(l) => OwnedArg::Long(l.to_string()),
            Arg::Value(v) => OwnedArg::Value(v),
        }
    }
}

impl OwnedArg {
    /// The argument again, borrowing from `self` instead of the parser.
    pub fn as_arg(&self) -> Arg<'_> {
        match self {
            OwnedArg::Short(c) => Arg::Short(*c),
            OwnedArg::Long(l) => Arg::Long(l),
            OwnedArg::Value(v) => Arg::Value(v.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detached_arguments_round_trip() {
        let mut p = lexopt::Parser::from_args(["-q", "--json", "x"]);
        let mut got = Vec::new();
        while let Some(a) = p.next().unwrap() {
            let owned = OwnedArg::from(a);
            got.push(format!("{:?}", owned.as_arg()));
        }
        assert_eq!(got, [r#"Short('q')"#, r#"Long("json")"#, r#"Value("x")"#]);
    }
}
