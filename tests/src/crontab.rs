//! Reads a crontab the way cron (Vixie cron, cronie) does, so that the docs harness can run each
//! entry with the environment cron gives it: `NAME=value` lines set variables for the entries
//! below them, five time fields (or an `@daily`-style nickname) come before the command, and an
//! unescaped `%` in the command ends it (what follows is the job's stdin, `%` as newlines).
//! See crontab(5).

/// One job: the variables set above it, its command, its stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub line: usize,
    pub env: Vec<(String, String)>,
    pub command: String,
    pub stdin: String,
}

/// Every entry of a crontab, or the line that is not one.
pub fn entries(text: &str) -> Result<Vec<Entry>, String> {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((name, value)) = assignment(line) {
            env.retain(|(k, _)| *k != name);
            env.push((name, value));
            continue;
        }
        let rest = if line.starts_with('@') {
            let (nick, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            const NICKS: &[&str] = &[
                "@reboot",
                "@yearly",
                "@annually",
                "@monthly",
                "@weekly",
                "@daily",
                "@midnight",
                "@hourly",
            ];
            if !NICKS.contains(&nick) {
                return Err(format!("line {n}: unknown nickname {nick}"));
            }
            rest
        } else {
            let mut rest = line;
            for field in 0..5 {
                let (f, r) = rest.split_once(char::is_whitespace).ok_or_else(|| {
                    format!("line {n}: fewer than five time fields and a command")
                })?;
                if !f
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ",-*/".contains(c))
                {
                    return Err(format!("line {n}: time field {} is {f:?}", field + 1));
                }
                rest = r.trim_start();
            }
            rest
        };
        let (command, stdin) = split_percent(rest.trim());
        if command.trim().is_empty() {
            return Err(format!("line {n}: no command"));
        }
        out.push(Entry {
            line: n,
            env: env.clone(),
            command,
            stdin,
        });
    }
    Ok(out)
}

/// `NAME = value` (cron strips one pair of matching quotes around the value).
fn assignment(line: &str) -> Option<(String, String)> {
    let (name, value) = line.split_once('=')?;
    let name = name.trim();
    if name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || name.starts_with(|c: char| c.is_ascii_digit())
    {
        return None;
    }
    let v = value.trim();
    let v = ['"', '\'']
        .iter()
        .find_map(|q| v.strip_prefix(*q).and_then(|x| x.strip_suffix(*q)))
        .unwrap_or(v);
    Some((name.to_string(), v.to_string()))
}

/// The command before the first unescaped `%`, and the stdin after it.
fn split_percent(s: &str) -> (String, String) {
    let mut command = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'%') => {
                command.push('%');
                chars.next();
            }
            '%' => {
                let stdin: String = chars.map(|c| if c == '%' { '\n' } else { c }).collect();
                return (command, stdin);
            }
            _ => command.push(c),
        }
    }
    (command, String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_variables_time_fields_and_percent_signs() {
        let e = entries(
            "# m h dom mon dow\nSHELL=/bin/bash\nMAILTO=\"ops@example.com\"\n\
             17 3 * * 1-5 echo a \\% b%line1%line2\n@daily  true\n",
        )
        .unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].line, 4);
        assert_eq!(e[0].command, "echo a % b");
        assert_eq!(e[0].stdin, "line1\nline2");
        assert_eq!(
            e[0].env,
            vec![
                ("SHELL".to_string(), "/bin/bash".to_string()),
                ("MAILTO".to_string(), "ops@example.com".to_string())
            ]
        );
        assert_eq!(e[1].command, "true");
    }

    #[test]
    fn refuses_an_entry_without_its_time_fields() {
        assert!(entries("3 * * echo\n").is_err());
        assert!(entries("@nightly echo\n").is_err());
        assert!(entries("17 3 * * * \n").is_err());
    }
}
