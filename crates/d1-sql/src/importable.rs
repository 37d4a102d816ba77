//! Statements D1's import refuses and a rewrite makes it take, one statement at a time:
//! d1-import streams a dump through this (its `rewrite.rs`), and the D1-compatibility check
//! (compat.rs) asks it which of its findings d1-import fixes.
//!
//! - **Transaction control** (`BEGIN`, `COMMIT`, `END`, `SAVEPOINT`, `RELEASE`) is dropped: D1
//!   runs the whole import as one transaction of its own and refuses them. `ROLLBACK` is not: it
//!   undoes what the dump wrote before it (`sqlite3 .dump` ends with `ROLLBACK; -- due to
//!   errors` when it could not read the whole database), and dropping it would import what the
//!   dump meant to throw away.
//! - **A statement over D1's limit** of 100 000 bytes that is an INSERT of values is rewritten
//!   into statements under it. D1 counts a statement from the end of the one before it (just
//!   after its `;`) to its own `;`: its import cuts the file with `sqlite3_complete_length` and
//!   prepares each piece under `SQLITE_LIMIT_SQL_LENGTH` (workerd's `ingestSql` and
//!   `setupSecurity`, https://github.com/cloudflare/workerd/blob/main/src/workerd/util/sqlite.c++),
//!   so in a dump, one statement a line, the newline before it counts too. Rows of a multi-row
//!   INSERT go into as many INSERTs as needed; a row too long by itself is built in a scratch
//!   table, its long values in pieces, and inserted from there in one statement:
//!
//!   ```text
//!   CREATE TABLE "_d1_import_long_values"(_d1_v1,_d1_v2);
//!   INSERT INTO "_d1_import_long_values" DEFAULT VALUES;
//!   UPDATE "_d1_import_long_values" SET _d1_v1=replace('{"a":1,…','\n',char(10));
//!   UPDATE "_d1_import_long_values" SET _d1_v1=_d1_v1||replace('…}','\n',char(10)),_d1_v2=X'00ff…';
//!   INSERT INTO "docs" ("id","body","raw") SELECT 7,_d1_v1,CAST(_d1_v2 AS BLOB) FROM "_d1_import_long_values";
//!   DROP TABLE "_d1_import_long_values";
//!   ```
//!
//!   The row is written once and whole, as the dump's own INSERT would write it, rather than
//!   inserted with a cut value that is then appended to by its key: so a `CHECK (json_valid(..))`,
//!   a UNIQUE or primary key holding the long value, a generated column, a WITHOUT ROWID table
//!   and a table with no key at all see only the final value. `||` joins blobs as text (the
//!   same bytes: D1's databases are UTF-8), and `CAST(.. AS BLOB)` makes the blob again. A piece
//!   never splits a UTF-8 character, a doubled quote or an occurrence of a `replace` pattern, and
//!   the pieces of a `replace(..)` value are checked to give the same text as the whole.

use crate::lex::{self, Kind, Token};

/// D1's longest statement, in bytes (counted as the module comment says).
pub const MAX_STATEMENT_BYTES: usize = 100_000;

/// The longest statement the rewrite writes, with room to spare under D1's limit.
pub const WRITTEN_MAX: usize = 99_000;

/// The scratch table a long row is built in; dropped as soon as the row is inserted. A name D1
/// allows: only `_cf_` is reserved (`SqlStorage::isAllowedName`,
/// https://github.com/cloudflare/workerd/blob/main/src/workerd/api/sql.c++).
pub const STAGING: &str = "_d1_import_long_values";

/// The scratch table's columns, `_d1_v1`, `_d1_v2`, …: the final INSERT's SELECT reads them, and
/// a double-quoted string among the row's other values (`"abc"`, which SQLite takes for a string
/// when no column has that name) must not name one.
const COLUMN: &str = "_d1_v";

/// Whether a statement of `len` bytes is over D1's limit where it stands in a dump: the first
/// statement has nothing before it, every other one the newline that ends the line before.
pub fn too_long(len: usize, first: bool) -> bool {
    len + usize::from(!first) > MAX_STATEMENT_BYTES
}

/// A statement's size for a message: `N bytes`, and when only the newline before it puts it
/// over the limit, that too.
pub fn size(len: usize) -> String {
    if len <= MAX_STATEMENT_BYTES {
        format!(
            "{len} bytes ({} with the newline before it, which D1 counts)",
            len + 1
        )
    } else {
        format!("{len} bytes")
    }
}

/// What to do with a transaction-control statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transaction {
    /// BEGIN, COMMIT, END, SAVEPOINT, RELEASE: D1's own transaction makes them pointless.
    Drop,
    /// ROLLBACK: the dump undoes its own writes.
    Refuse,
}

/// The transaction-control keyword a statement starts with (upper case), and what d1-import
/// does with it; `None` for any other statement.
pub fn transaction(text: &[u8]) -> Option<(String, Transaction)> {
    let first = lex::tokens(text).find(|t| !t.kind.is_trivia())?;
    if first.kind != Kind::Word {
        return None;
    }
    let word = String::from_utf8_lossy(first.text(text)).to_ascii_uppercase();
    let what = match word.as_str() {
        "BEGIN" | "COMMIT" | "END" | "SAVEPOINT" | "RELEASE" => Transaction::Drop,
        "ROLLBACK" => Transaction::Refuse,
        _ => return None,
    };
    Some((word, what))
}

/// Whether a statement creates a table named [`STAGING`] (any case): the rewrite would collide
/// with it.
pub fn creates_staging(text: &[u8]) -> bool {
    let head: Vec<Token> = lex::tokens(text)
        .filter(|t| !t.kind.is_trivia())
        .take(8)
        .collect();
    let is = |t: &Token, w: &str| {
        t.kind == Kind::Word && t.text(text).eq_ignore_ascii_case(w.as_bytes())
    };
    let Some(table) = head.iter().position(|t| is(t, "TABLE")) else {
        return false;
    };
    head.first().is_some_and(|t| is(t, "CREATE"))
        && head[table + 1..].iter().any(|t| {
            matches!(t.kind, Kind::Word | Kind::Quoted)
                && t.unquoted(text).eq_ignore_ascii_case(STAGING.as_bytes())
        })
}

/// The statements, each at most [`WRITTEN_MAX`] bytes, that do what `text` (one statement, an
/// INSERT over the limit) does; `Err` says why it cannot be split.
pub fn split(text: &str) -> Result<Vec<String>, String> {
    let insert = parse(text)?;
    let mut out = Vec::new();
    let values_head = format!("{}{}", insert.head, insert.values);
    // Rows that fit go into INSERTs of as many rows as fit; a row too long alone is staged.
    let mut pack: Vec<&str> = Vec::new();
    let mut pack_len = 0;
    let flush = |pack: &mut Vec<&str>, pack_len: &mut usize, out: &mut Vec<String>| {
        if !pack.is_empty() {
            out.push(format!("{values_head}{};", pack.join(",")));
            pack.clear();
            *pack_len = 0;
        }
    };
    for row in &insert.rows {
        let alone = values_head.len() + row.text.len() + 1;
        if alone > WRITTEN_MAX {
            flush(&mut pack, &mut pack_len, &mut out);
            out.extend(stage(text, insert.head, row)?);
            continue;
        }
        if !pack.is_empty() && values_head.len() + pack_len + 1 + row.text.len() + 1 > WRITTEN_MAX {
            flush(&mut pack, &mut pack_len, &mut out);
        }
        pack_len += row.text.len() + usize::from(!pack.is_empty());
        pack.push(row.text);
    }
    flush(&mut pack, &mut pack_len, &mut out);
    Ok(out)
}

/// An INSERT of values, as far as splitting needs it.
struct Insert<'a> {
    /// Everything before `VALUES` (`INSERT INTO "t" ("a","b") `), kept as it is.
    head: &'a str,
    /// The `VALUES` keyword as written.
    values: &'a str,
    rows: Vec<Row<'a>>,
}

struct Row<'a> {
    /// `(…)`, as written.
    text: &'a str,
    values: Vec<Value<'a>>,
}

struct Value<'a> {
    text: &'a str,
    form: Form<'a>,
}

/// What a value is, for cutting it.
enum Form<'a> {
    /// A string literal, alone or inside `replace(…, 'pattern', char(N))` calls: `before` and
    /// `after` are the text around the literal, written around each piece.
    Text {
        before: &'a str,
        literal: Token,
        after: &'a str,
        /// The `replace` calls, innermost first.
        steps: Vec<Step>,
    },
    /// `X'…'`: the `X` as written and the hex digits.
    Blob { x: &'a str, hex: &'a str },
    /// Anything else: kept whole.
    Other,
}

/// One `replace` call: its pattern and what replaces it.
type Step = (Vec<u8>, Vec<u8>);

fn word_is(t: &Token, s: &[u8], w: &str) -> bool {
    t.kind == Kind::Word && t.text(s).eq_ignore_ascii_case(w.as_bytes())
}

fn punct_is(t: &Token, s: &[u8], c: u8) -> bool {
    t.kind == Kind::Punct && t.text(s) == [c]
}

fn parse(text: &str) -> Result<Insert<'_>, String> {
    let s = text.as_bytes();
    let toks: Vec<Token> = lex::tokens(s).filter(|t| !t.kind.is_trivia()).collect();
    let first = toks
        .first()
        .map(|t| String::from_utf8_lossy(t.text(s)).to_ascii_uppercase())
        .unwrap_or_default();
    if first != "INSERT" && first != "REPLACE" {
        return Err(format!(
            "d1-import splits only INSERTs of values, not {first} statements"
        ));
    }
    let mut depth = 0usize;
    let mut at = None;
    for (i, t) in toks.iter().enumerate() {
        if punct_is(t, s, b'(') {
            depth += 1;
        } else if punct_is(t, s, b')') {
            depth = depth.saturating_sub(1);
        } else if depth == 0 && (word_is(t, s, "SELECT") || word_is(t, s, "DEFAULT")) {
            break;
        } else if depth == 0 && word_is(t, s, "VALUES") {
            at = Some(i);
            break;
        }
    }
    let Some(at) = at else {
        return Err("it inserts no VALUES list (INSERT … SELECT or DEFAULT VALUES)".into());
    };
    let kw = toks[at];
    let mut rows = Vec::new();
    let mut i = at + 1;
    loop {
        let (row, next) = row(text, &toks, i)?;
        rows.push(row);
        match toks.get(next) {
            Some(t) if punct_is(t, s, b',') => i = next + 1,
            Some(t) if t.kind == Kind::Semi && next + 1 == toks.len() => break,
            _ => return Err("a clause follows its VALUES list (ON CONFLICT, RETURNING, …)".into()),
        }
    }
    Ok(Insert {
        head: &text[..kw.start],
        values: &text[kw.start..kw.end],
        rows,
    })
}

/// The row `( … )` starting at token `i`, and the index of the token after it.
fn row<'a>(text: &'a str, toks: &[Token], i: usize) -> Result<(Row<'a>, usize), String> {
    let s = text.as_bytes();
    let malformed = || "its VALUES list is not a list of rows".to_string();
    let open = toks
        .get(i)
        .filter(|t| punct_is(t, s, b'('))
        .ok_or_else(malformed)?;
    let mut depth = 0usize;
    let mut values = Vec::new();
    let mut from = i + 1;
    for (j, t) in toks.iter().enumerate().skip(i + 1) {
        let end_of_value = depth == 0 && (punct_is(t, s, b',') || punct_is(t, s, b')'));
        if end_of_value {
            let parts = &toks[from..j];
            let (Some(a), Some(b)) = (parts.first(), parts.last()) else {
                return Err(malformed());
            };
            values.push(Value {
                text: &text[a.start..b.end],
                form: form(text, parts),
            });
            from = j + 1;
            if punct_is(t, s, b')') {
                let row = Row {
                    text: &text[open.start..t.end],
                    values,
                };
                return Ok((row, j + 1));
            }
        } else if punct_is(t, s, b'(') {
            depth += 1;
        } else if punct_is(t, s, b')') {
            depth -= 1;
        } else if t.kind == Kind::Semi {
            break;
        }
    }
    Err(malformed())
}

fn form<'a>(text: &'a str, parts: &[Token]) -> Form<'a> {
    let s = text.as_bytes();
    match parts {
        [b] if b.kind == Kind::Blob && b.closed => Form::Blob {
            x: &text[b.start..b.start + 1],
            hex: &text[b.start + 2..b.end - 1],
        },
        _ => match chain(s, parts) {
            Some((literal, steps)) => {
                let (first, last) = (parts[0], parts[parts.len() - 1]);
                Form::Text {
                    before: &text[first.start..literal.start],
                    literal,
                    after: &text[literal.end..last.end],
                    steps,
                }
            }
            None => Form::Other,
        },
    }
}

/// A string literal, or `replace(X, 'pattern', R)` of one (R a string or `char(N, …)`),
/// nested: the literal and the calls, innermost first.
fn chain(s: &[u8], t: &[Token]) -> Option<(Token, Vec<Step>)> {
    if let [lit] = t {
        return (lit.kind == Kind::Str && lit.closed).then(|| (*lit, Vec::new()));
    }
    let n = t.len();
    if n < 8 || !word_is(&t[0], s, "REPLACE") || !punct_is(&t[1], s, b'(') {
        return None;
    }
    if !punct_is(&t[n - 1], s, b')') {
        return None;
    }
    let args = arguments(s, &t[2..n - 1])?;
    let [x, pattern, with] = args.as_slice() else {
        return None;
    };
    let (lit, mut steps) = chain(s, x)?;
    let pattern = match pattern {
        [p] if p.kind == Kind::Str && p.closed => p.unquoted(s),
        _ => return None,
    };
    let with = match with {
        [r] if r.kind == Kind::Str && r.closed => r.unquoted(s),
        [c, open, rest @ .., close]
            if word_is(c, s, "CHAR") && punct_is(open, s, b'(') && punct_is(close, s, b')') =>
        {
            let mut out = String::new();
            for (k, a) in rest.iter().enumerate() {
                if k % 2 == 1 {
                    punct_is(a, s, b',').then_some(())?;
                    continue;
                }
                let n: u32 = std::str::from_utf8(a.text(s)).ok()?.parse().ok()?;
                out.push(char::from_u32(n).unwrap_or('\u{fffd}'));
            }
            out.into_bytes()
        }
        _ => return None,
    };
    steps.push((pattern, with));
    Some((lit, steps))
}

/// Tokens of a call's arguments, split at its top-level commas.
fn arguments<'t>(s: &[u8], t: &'t [Token]) -> Option<Vec<&'t [Token]>> {
    let mut out = Vec::new();
    let (mut depth, mut from) = (0usize, 0);
    for (i, tok) in t.iter().enumerate() {
        if punct_is(tok, s, b'(') {
            depth += 1;
        } else if punct_is(tok, s, b')') {
            depth = depth.checked_sub(1)?;
        } else if depth == 0 && punct_is(tok, s, b',') {
            out.push(&t[from..i]);
            from = i + 1;
        }
    }
    out.push(&t[from..]);
    out.iter().all(|a| !a.is_empty()).then_some(out)
}

/// The statements that build `row` in the scratch table and insert it from there.
fn stage(text: &str, head: &str, row: &Row<'_>) -> Result<Vec<String>, String> {
    let table = format!("\"{STAGING}\"");
    let n = row.values.len();
    // Longest values first, until the final INSERT fits; the column of a staged value is
    // _d1_v1, _d1_v2, … in row order. Lengths are counted, not written out, while choosing (a row may
    // hold thousands of values), with the widest column name.
    let digits = n.to_string().len();
    let item_len = |v: &Value<'_>, staged: bool| match (&v.form, staged) {
        (_, false) => v.text.len(),
        (Form::Blob { .. }, true) => "CAST( AS BLOB)".len() + COLUMN.len() + digits,
        (_, true) => COLUMN.len() + digits,
    };
    let mut total = head.len() + "SELECT  FROM ;".len() + table.len() + n.saturating_sub(1);
    total += row.values.iter().map(|v| item_len(v, false)).sum::<usize>();
    let mut staged = vec![false; n];
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(row.values[i].text.len()));
    for &i in &order {
        let (inline, moved) = (
            item_len(&row.values[i], false),
            item_len(&row.values[i], true),
        );
        if total <= WRITTEN_MAX || moved >= inline {
            break;
        }
        total = total - inline + moved;
        staged[i] = true;
    }
    if total > WRITTEN_MAX {
        return Err(format!(
            "even with its values moved out it would be {total} bytes: its table and column \
             names, or its number of values, keep it over the limit"
        ));
    }
    let mut k = 0;
    let items: Vec<String> = row
        .values
        .iter()
        .zip(&staged)
        .map(|(v, &s)| {
            if !s {
                return v.text.to_string();
            }
            k += 1;
            match v.form {
                Form::Blob { .. } => format!("CAST({COLUMN}{k} AS BLOB)"),
                _ => format!("{COLUMN}{k}"),
            }
        })
        .collect();
    let last = format!("{head}SELECT {} FROM {table};", items.join(","));
    let columns: Vec<String> = (1..=staged.iter().filter(|&&s| s).count())
        .map(|k| format!("{COLUMN}{k}"))
        .collect();
    let mut out = vec![
        format!("CREATE TABLE {table}({});", columns.join(",")),
        format!("INSERT INTO {table} DEFAULT VALUES;"),
    ];
    let update = format!("UPDATE {table} SET ");
    let mut current = String::new();
    let mut columns_in: Vec<&str> = Vec::new();
    let values = row.values.iter().enumerate().filter(|&(i, _)| staged[i]);
    for ((i, v), column) in values.zip(&columns) {
        // The room for one piece: alone in `UPDATE … SET vK=vK||piece;`.
        let room = WRITTEN_MAX - update.len() - 2 * column.len() - 4;
        for (p, piece) in pieces(text, i, v, room)?.iter().enumerate() {
            let assign = if p == 0 {
                format!("{column}={piece}")
            } else {
                format!("{column}={column}||{piece}")
            };
            // The comma before it and the `;` after it.
            let fits = update.len() + current.len() + assign.len() + 2 <= WRITTEN_MAX;
            if !current.is_empty() && (!fits || columns_in.contains(&column.as_str())) {
                out.push(format!("{update}{current};"));
                current.clear();
                columns_in.clear();
            }
            if !current.is_empty() {
                current.push(',');
            }
            current.push_str(&assign);
            columns_in.push(column);
        }
    }
    if !current.is_empty() {
        out.push(format!("{update}{current};"));
    }
    out.push(last);
    out.push(format!("DROP TABLE {table};"));
    Ok(out)
}

/// The pieces of value `i` (0-based) of a row, each at most `room` bytes as SQL, that joined
/// with `||` give the value.
fn pieces(text: &str, i: usize, v: &Value<'_>, room: usize) -> Result<Vec<String>, String> {
    let at = |what: &str| format!("value {} of the row: {what}", i + 1);
    match &v.form {
        _ if v.text.len() <= room => Ok(vec![v.text.to_string()]),
        Form::Other => Err(at(&format!(
            "a {}-byte expression, which d1-import cannot cut (only string and blob literals, \
             and replace(…) of a string literal)",
            v.text.len()
        ))),
        Form::Blob { x, hex } => {
            if hex.len() % 2 == 1 {
                return Err(at("an odd number of hex digits, not a blob literal"));
            }
            let step = room.saturating_sub(3) & !1;
            if step == 0 {
                return Err(at("no room for a piece"));
            }
            Ok(hex
                .as_bytes()
                .chunks(step)
                .map(|c| format!("{x}'{}'", String::from_utf8_lossy(c)))
                .collect())
        }
        Form::Text {
            before,
            literal,
            after,
            steps,
        } => {
            let fixed = before.len() + after.len() + 2;
            if room < fixed + 64 {
                return Err(at("its replace(…) calls leave no room for a piece"));
            }
            let content = literal.unquoted(text.as_bytes());
            let patterns: Vec<&[u8]> = steps
                .iter()
                .map(|(p, _)| p.as_slice())
                .filter(|p| !p.is_empty())
                .collect();
            let cuts = cut(&content, room - fixed, &patterns)
                .ok_or_else(|| at("no place to cut it that keeps its replace(…) patterns whole"))?;
            if !steps.is_empty() {
                let whole = apply(&content, steps);
                let mut joined = Vec::with_capacity(whole.len());
                for r in &cuts {
                    joined.extend_from_slice(&apply(&content[r.clone()], steps));
                }
                if whole != joined {
                    return Err(at("its replace(…) calls would give other text in pieces"));
                }
            }
            Ok(cuts
                .into_iter()
                .map(|r| {
                    let piece = String::from_utf8_lossy(&content[r]).replace('\'', "''");
                    format!("{before}'{piece}'{after}")
                })
                .collect())
        }
    }
}

/// Cuts `u` (a string literal's text, quotes single) into pieces of at most `room` bytes once
/// quotes are doubled again, each cut at a UTF-8 character boundary and outside every
/// occurrence of `patterns`; `None` when some stretch has no such place.
fn cut(u: &[u8], room: usize, patterns: &[&[u8]]) -> Option<Vec<std::ops::Range<usize>>> {
    let safe = |e: usize| {
        !(0x80..0xc0).contains(&u[e])
            && patterns.iter().all(|p| {
                let l = p.len();
                (e.saturating_sub(l - 1)..e).all(|k| k + l > u.len() || &u[k..k + l] != *p)
            })
    };
    let mut out = Vec::new();
    let mut p = 0;
    while p < u.len() {
        let (mut e, mut len) = (p, 0);
        while e < u.len() {
            let w = if u[e] == b'\'' { 2 } else { 1 };
            if len + w > room {
                break;
            }
            len += w;
            e += 1;
        }
        while e < u.len() && e > p && !safe(e) {
            e -= 1;
        }
        if e == p {
            return None;
        }
        out.push(p..e);
        p = e;
    }
    Some(out)
}

/// SQLite's `replace(X, P, R)` for each step in turn (an empty P leaves X as it is).
fn apply(u: &[u8], steps: &[Step]) -> Vec<u8> {
    let mut cur = u.to_vec();
    for (p, r) in steps.iter().filter(|(p, _)| !p.is_empty()) {
        let mut out = Vec::with_capacity(cur.len());
        let mut from = 0;
        // Left to right, without overlaps, as SQLite replaces.
        for at in memchr::memmem::find_iter(&cur, p) {
            if at < from {
                continue;
            }
            out.extend_from_slice(&cur[from..at]);
            out.extend_from_slice(r);
            from = at + p.len();
        }
        out.extend_from_slice(&cur[from..]);
        cur = out;
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::types::Value as Sql;
    use rusqlite::Connection;

    /// Every row of every table, in key order, with each value's storage class kept.
    fn contents(c: &Connection) -> Vec<(String, Vec<Vec<Sql>>)> {
        let names: Vec<String> = c
            .prepare("SELECT name FROM sqlite_schema WHERE type='table' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        names
            .into_iter()
            .map(|t| {
                let mut st = c
                    .prepare(&format!("SELECT * FROM \"{t}\" ORDER BY 1"))
                    .unwrap();
                let n = st.column_count();
                let rows = st
                    .query_map([], |r| (0..n).map(|i| r.get::<_, Sql>(i)).collect())
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                (t, rows)
            })
            .collect()
    }

    /// Runs `schema` then `insert` as it is (no limit), and `schema` then the split of
    /// `insert` one statement at a time under D1's limit; both databases must hold the same.
    fn same_as_whole(schema: &str, insert: &str) -> Vec<String> {
        assert!(too_long(insert.len(), false), "the test's INSERT is short");
        let whole = Connection::open_in_memory().unwrap();
        whole.execute_batch(schema).unwrap();
        whole.execute_batch(insert).unwrap();
        let parts = split(insert).unwrap();
        let d1 = Connection::open_in_memory().unwrap();
        // SAFETY: the connection's own handle, while it is open.
        unsafe {
            rusqlite::ffi::sqlite3_limit(
                d1.handle(),
                rusqlite::ffi::SQLITE_LIMIT_SQL_LENGTH,
                MAX_STATEMENT_BYTES as i32,
            );
        }
        d1.execute_batch(schema).unwrap();
        for p in &parts {
            assert!(p.len() <= WRITTEN_MAX, "{} bytes", p.len());
            assert!(std::str::from_utf8(p.as_bytes()).is_ok());
            d1.execute_batch(p)
                .unwrap_or_else(|e| panic!("{e}: {}", &p[..p.len().min(300)]));
        }
        assert_eq!(contents(&d1), contents(&whole));
        parts
    }

    /// A string as D1's dump writes it: quotes doubled, newlines and carriage returns as
    /// `replace(…)` placeholders.
    fn d1_text(s: &str) -> String {
        let lit = format!("'{}'", s.replace('\'', "''"));
        match (s.contains('\r'), s.contains('\n')) {
            (false, false) => lit,
            (false, true) => format!("replace({},'\\n',char(10))", lit.replace('\n', "\\n")),
            (true, false) => format!("replace({},'\\r',char(13))", lit.replace('\r', "\\r")),
            (true, true) => format!(
                "replace(replace({},'\\r',char(13)),'\\n',char(10))",
                lit.replace('\r', "\\r").replace('\n', "\\n")
            ),
        }
    }

    fn blob(n: usize) -> String {
        let bytes: Vec<u8> = (0..n).map(|i| (i * 7 % 256) as u8).collect();
        format!("X'{}'", hex::encode(bytes))
    }

    #[test]
    fn long_text_and_blob_values_are_rebuilt_byte_for_byte_under_the_limit() {
        let schema = "CREATE TABLE \"docs\" (id INTEGER PRIMARY KEY, body TEXT, raw BLOB);";
        let json = format!(
            "{{\"k\":\"{}\"}}",
            "it's \"quoted\"\nand long ".repeat(6_000)
        );
        let insert = format!(
            "INSERT INTO \"docs\" (\"id\",\"body\",\"raw\") VALUES(1,{},{});",
            d1_text(&json),
            blob(1 << 20)
        );
        let parts = same_as_whole(schema, &insert);
        assert!(parts[0].starts_with(&format!("CREATE TABLE \"{STAGING}\"(_d1_v1,_d1_v2);")));
        assert_eq!(parts.last().unwrap(), &format!("DROP TABLE \"{STAGING}\";"));
        let megabyte_text = format!(
            "INSERT INTO \"docs\" VALUES(2,{},NULL);",
            d1_text(&"é\r\n😀'".repeat(100_000))
        );
        same_as_whole(schema, &megabyte_text);
    }

    #[test]
    fn a_row_long_by_many_short_values_and_a_long_multi_row_insert_are_split() {
        let cols: Vec<String> = (0..100).map(|i| format!("c{i}")).collect();
        let schema = format!("CREATE TABLE t({});", cols.join(","));
        let values: Vec<String> = (0..100)
            .map(|i| d1_text(&format!("{i}").repeat(1_500 / (1 + i % 3))))
            .collect();
        same_as_whole(
            &schema,
            &format!("INSERT INTO t VALUES({});", values.join(",")),
        );
        let rows: Vec<String> = (0..20_000).map(|i| format!("({i},'row {i}')")).collect();
        let parts = same_as_whole(
            "CREATE TABLE r(a INTEGER PRIMARY KEY, b);",
            &format!("INSERT INTO r (a, b) VALUES {};", rows.join(",")),
        );
        assert!(parts
            .iter()
            .all(|p| p.starts_with("INSERT INTO r (a, b) VALUES(")));
        assert_eq!(parts.len(), 4, "as few INSERTs as fit");
    }

    #[test]
    fn a_double_quoted_string_beside_a_staged_value_stays_a_string() {
        same_as_whole(
            "CREATE TABLE t(a, b, c);",
            &format!(
                "INSERT INTO t VALUES('{}', \"v1\", \"b\");",
                "x".repeat(150_000)
            ),
        );
    }

    #[test]
    fn tables_keyed_by_the_long_value_checked_or_without_rowid_see_only_the_whole_value() {
        let long = "x'y".repeat(60_000);
        for schema in [
            "CREATE TABLE k(v TEXT PRIMARY KEY, n) WITHOUT ROWID;",
            "CREATE TABLE k(v TEXT UNIQUE CHECK (length(v) = 180000), n);",
            "CREATE TABLE k(v TEXT, n, j GENERATED ALWAYS AS (json(v)) STORED);",
            "CREATE TABLE k(v, n);",
        ] {
            let v = if schema.contains("json") {
                format!("[\"{}\"]", "z".repeat(179_996))
            } else {
                long.clone()
            };
            same_as_whole(
                schema,
                &format!("INSERT INTO k(v, n) VALUES({}, 1);", d1_text(&v)),
            );
            same_as_whole(
                schema,
                &format!("INSERT OR REPLACE INTO \"k\" VALUES({}, 2);", d1_text(&v)),
            );
        }
    }

    #[test]
    fn pieces_never_cut_a_character_a_doubled_quote_or_a_placeholder() {
        let nl: &[u8] = b"\\n";
        assert_eq!(cut("aa\u{e9}".as_bytes(), 3, &[]), Some(vec![0..2, 2..4]));
        assert_eq!(cut(b"a\\nb", 2, &[nl]), Some(vec![0..1, 1..3, 3..4]));
        assert_eq!(cut(b"a'b", 2, &[]), Some(vec![0..1, 1..2, 2..3]));
        // Natural cut points land on each byte of a 4-byte character, on each half of a
        // doubled quote and on each half of a `\n` placeholder, for some shift of the text.
        for shift in 0..8 {
            let text = format!("{}{}", "a".repeat(shift), "\u{1f600}'\n".repeat(60_000));
            same_as_whole(
                "CREATE TABLE t(v);",
                &format!("INSERT INTO t VALUES({});", d1_text(&text)),
            );
        }
    }

    #[test]
    fn random_rows_of_tricky_characters_come_out_the_same() {
        let alphabet = [
            "a",
            "'",
            "\n",
            "\r",
            "\\",
            "n",
            "r",
            "\u{e9}",
            "\u{1f600}",
            "''",
            ",",
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for round in 0..12 {
            let mut values = vec![format!("{round}")];
            for k in 0..1 + next(3) {
                let len = if k == 0 { 100_000 } else { 1_000 } + next(80_000);
                let mut text = String::new();
                while text.len() < len {
                    text.push_str(alphabet[next(alphabet.len())]);
                }
                values.push(if next(4) == 0 {
                    format!("X'{}'", hex::encode(text.as_bytes()))
                } else {
                    d1_text(&text)
                });
            }
            while values.len() < 4 {
                values.push("NULL".into());
            }
            same_as_whole(
                "CREATE TABLE t(id INTEGER PRIMARY KEY, a, b, c);",
                &format!("INSERT INTO \"t\" VALUES({});", values.join(",")),
            );
        }
    }

    #[test]
    fn what_cannot_be_split_says_why() {
        let long = "y".repeat(150_000);
        let refusal = |sql: String| split(&sql).unwrap_err();
        assert_eq!(
            refusal(format!(
                "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT '{long}'; END;"
            )),
            "d1-import splits only INSERTs of values, not CREATE statements"
        );
        assert_eq!(
            refusal(format!("INSERT INTO t SELECT '{long}';")),
            "it inserts no VALUES list (INSERT … SELECT or DEFAULT VALUES)"
        );
        assert_eq!(
            refusal(format!("INSERT INTO t VALUES(upper('{long}'));")),
            "value 1 of the row: a 150009-byte expression, which d1-import cannot cut (only \
             string and blob literals, and replace(…) of a string literal)"
        );
        assert_eq!(
            refusal(format!("INSERT INTO \"{long}\" VALUES(1);")),
            "even with its values moved out it would be 150054 bytes: its table and column \
             names, or its number of values, keep it over the limit"
        );
        assert_eq!(
            refusal(format!(
                "INSERT INTO t VALUES('{long}') ON CONFLICT DO NOTHING;"
            )),
            "a clause follows its VALUES list (ON CONFLICT, RETURNING, …)"
        );
        assert_eq!(
            refusal(format!("INSERT INTO t VALUES(X'{}');", "a".repeat(150_001))),
            "value 1 of the row: an odd number of hex digits, not a blob literal"
        );
    }

    #[test]
    fn a_pattern_with_no_place_to_cut_is_refused_rather_than_changed() {
        let sql = format!(
            "INSERT INTO t VALUES(replace('{}','aa','b'));",
            "a".repeat(150_000)
        );
        assert_eq!(
            split(&sql).unwrap_err(),
            "value 1 of the row: no place to cut it that keeps its replace(…) patterns whole"
        );
    }

    #[test]
    fn transaction_control_is_dropped_but_rollback_refused() {
        assert_eq!(
            transaction(b"BEGIN TRANSACTION;"),
            Some(("BEGIN".into(), Transaction::Drop))
        );
        assert_eq!(
            transaction(b"/* x */ end;"),
            Some(("END".into(), Transaction::Drop))
        );
        assert_eq!(transaction(b"RELEASE sp;").unwrap().1, Transaction::Drop);
        assert_eq!(
            transaction(b"ROLLBACK; -- due to errors").unwrap().1,
            Transaction::Refuse
        );
        assert_eq!(transaction(b"INSERT INTO \"begin\" VALUES(1);"), None);
        assert_eq!(transaction(b"CREATE TRIGGER t BEGIN SELECT 1; END;"), None);
    }

    #[test]
    fn the_scratch_tables_name_is_noticed_in_a_create_table() {
        assert!(creates_staging(
            b"CREATE TABLE \"_D1_import_long_values\" (a);"
        ));
        assert!(creates_staging(
            b"create table if not exists _d1_import_long_values(a);"
        ));
        assert!(!creates_staging(
            b"INSERT INTO _d1_import_long_values VALUES(1);"
        ));
    }

    #[test]
    fn the_newline_before_a_statement_counts() {
        assert!(!too_long(100_000, true));
        assert!(too_long(100_000, false));
        assert!(!too_long(99_999, false));
    }
}
