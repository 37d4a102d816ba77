//! Configuration from the environment (docs/README.md, "Environment"). The token is never taken
//! from argv, which every user on the machine can read in `ps`; `--token-file` is the
//! alternative to the environment.

use crate::error::{Error, Result};
use std::path::Path;

pub const DEFAULT_BASE_URL: &str = "https://api.cloudflare.com/client/v4";

#[derive(Clone)]
pub struct Config {
    pub token: String,
    pub account_id: String,
    pub base_url: String,
    /// `D1_DATABASE_ID`, the default database when none is named.
    pub database: Option<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("token", &crate::redact::MASK)
            .field("account_id", &self.account_id)
            .field("base_url", &self.base_url)
            .field("database", &self.database)
            .finish()
    }
}

/// The first non-empty variable of `names` (the current name, then the seed article's older one).
pub fn var(names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|n| std::env::var(n).ok())
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty())
}

/// The default database (`D1_DATABASE_ID`, then `CF_D1_DATABASE_ID`), if set.
pub fn default_database() -> Option<String> {
    var(&["D1_DATABASE_ID", "CF_D1_DATABASE_ID"])
}

impl Config {
    /// Reads the token (from `token_file` when given, else the environment), account and base
    /// URL. A missing token is exit 3; a missing account id or a bad base URL exit 2.
    pub fn load(token_file: Option<&Path>) -> Result<Config> {
        let token = match token_file {
            Some(path) => read_token_file(path)?,
            None => var(&["CLOUDFLARE_API_TOKEN", "CF_API_TOKEN"]).ok_or_else(|| {
                Error::credentials(
                    "CLOUDFLARE_API_TOKEN is not set (nor CF_API_TOKEN); set it or pass --token-file",
                )
            })?,
        };
        check_token(&token)?;
        crate::redact::add_secret(&token);
        let account_id = var(&["CLOUDFLARE_ACCOUNT_ID", "CF_ACCOUNT_ID"])
            .ok_or_else(|| Error::usage("CLOUDFLARE_ACCOUNT_ID is not set (nor CF_ACCOUNT_ID)"))?;
        if !account_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::usage(
                "CLOUDFLARE_ACCOUNT_ID must be letters, digits, '-' or '_'",
            ));
        }
        let base_url = var(&["CLOUDFLARE_API_BASE_URL"])
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string())
            .trim_end_matches('/')
            .to_string();
        crate::url::check(&base_url).map_err(|e| e.context("CLOUDFLARE_API_BASE_URL"))?;
        crate::budget::limit()?;
        Ok(Config {
            token,
            account_id,
            base_url,
            database: default_database(),
        })
    }

    /// `{base}/accounts/{account}/d1/database`.
    pub fn d1_url(&self) -> String {
        format!("{}/accounts/{}/d1/database", self.base_url, self.account_id)
    }
}

fn read_token_file(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::credentials(format!("reading token file {}: {e}", path.display())))?;
    let token = text.trim().to_string();
    if token.is_empty() {
        return Err(Error::credentials(format!(
            "token file {} is empty",
            path.display()
        )));
    }
    Ok(token)
}

/// A token goes into an HTTP header: whitespace or control characters would be a header
/// injection or a copy-paste accident, never a valid token.
fn check_token(token: &str) -> Result<()> {
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) || !token.is_ascii() {
        return Err(Error::credentials(
            "the API token contains spaces or control characters; check how it was set",
        ));
    }
    Ok(())
}
