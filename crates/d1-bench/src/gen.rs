//! The database itself: a schema shaped like a small app's (users, their orders, attachments), and
//! rows drawn from a fixed PRNG until the estimated D1 dump reaches the requested size.
//!
//! The values cover what the dump format has to get right: integers, REALs, NULLs, text with
//! quotes, line breaks (`\n` and `\r\n`), backslashes and non-ASCII, and blobs. They avoid the two
//! documented lossy corners (integers beyond 2^53, a text holding both a line break and the two
//! characters backslash-n) so a restored copy equals the original.

use crate::estimate;
use crate::rng::Rng;
use rusqlite::{params, Connection};

const TABLES: &str = r#"
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT,
    age INTEGER,
    balance REAL,
    bio TEXT,
    created_at INTEGER NOT NULL
);
CREATE TABLE "order items" (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id),
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    price REAL NOT NULL,
    note TEXT,
    meta TEXT
);
CREATE TABLE attachments (
    id INTEGER PRIMARY KEY,
    user_id INTEGER REFERENCES users(id),
    name TEXT NOT NULL,
    mime TEXT,
    data BLOB,
    checksum BLOB
);
"#;

/// Created after the rows: one sort instead of an index insert per row.
const OBJECTS: &str = r#"
CREATE INDEX items_by_user ON "order items"(user_id);
CREATE VIEW user_totals AS
    SELECT user_id, sum(price * quantity) AS total FROM "order items" GROUP BY user_id;
"#;

const FIRST: &[&str] = &[
    "Ada",
    "Grace",
    "Zoë",
    "Renée",
    "Seán",
    "José",
    "Chloé",
    "Björn",
    "Łukasz",
    "Ngozi",
    "Hiroshi",
    "Ana-María",
    "D'Arcy",
    "Jean-Luc",
    "Søren",
    "Ярослав",
    "李",
    "Fatima",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Hopper",
    "O'Brien",
    "Müller",
    "García",
    "Nakamura",
    "D'Angelo",
    "Smith",
    "van der Berg",
    "Østergaard",
    "Ivanova",
    "O'Neil",
    "Nguyễn",
    "Dupont",
];
const WORDS: &[&str] = &[
    "the",
    "backup",
    "restore",
    "database",
    "it's",
    "don't",
    "\"quoted\"",
    "naïve",
    "café",
    "C:\\Temp\\data",
    "50%",
    "a_b",
    "日本語",
    "🎉",
    "tab\there",
    "SELECT",
    "DROP TABLE;",
    "--",
    "/*",
    "NULL",
    "'",
    "''",
    "x",
    "émigré",
    "ünïcödé",
    "ok",
    "done",
    "pending",
    "shipped",
    "refund",
];
const SKUS: &[&str] = &["BK", "TS", "MG", "HD", "SW", "KB", "MS", "CB"];
const MIMES: &[&str] = &[
    "image/png",
    "application/pdf",
    "text/plain",
    "application/zip",
];
const COLORS: &[&str] = &["red", "green", "blue", "black", "white", "o'live"];

/// What was written, for the summary line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Rows written, per table, in creation order.
    pub tables: Vec<(&'static str, u64)>,
    /// Estimated size of the D1 dump, in bytes.
    pub dump_bytes: u64,
}

#[cfg(test)]
impl Summary {
    /// The rows written into `table`.
    pub fn rows(&self, table: &str) -> u64 {
        self.tables
            .iter()
            .find(|(t, _)| *t == table)
            .map_or(0, |(_, n)| *n)
    }
}

fn sentence(rng: &mut Rng, words: usize) -> String {
    rng.sentence(WORDS, words)
}

/// Mostly one line; some with `\n` paragraphs, a few with Windows `\r\n` line ends.
fn bio(rng: &mut Rng) -> Option<String> {
    if rng.chance(20) {
        return None;
    }
    let n = rng.range(3, 30) as usize;
    let mut s = sentence(rng, n);
    if rng.chance(15) {
        let sep = if rng.chance(20) { "\r\n" } else { "\n" };
        s.push_str(sep);
        let n = rng.range(2, 12) as usize;
        s.push_str(&sentence(rng, n));
    }
    Some(s)
}

/// Money-like REAL with two decimals; never integral, so it keeps its type through the dump.
fn money(rng: &mut Rng, max_cents: i64) -> f64 {
    let cents = rng.range(1, max_cents);
    let cents = if cents % 100 == 0 { cents + 1 } else { cents };
    cents as f64 / 100.0
}

fn opt_text(v: &Option<String>) -> u64 {
    v.as_deref().map_or(estimate::NULL, estimate::text)
}

/// Fills `conn` (which must be empty) until the estimated dump reaches `target` bytes.
pub fn generate(conn: &mut Connection, target: u64, seed: u64) -> rusqlite::Result<Summary> {
    conn.execute_batch(TABLES)?;
    let mut rng = Rng::new(seed);
    // The dump's frame: PRAGMA line, CREATE statements and the trailing index/view lines.
    let mut sum = Summary {
        dump_bytes: (TABLES.len() + OBJECTS.len()) as u64 + 64,
        ..Summary::default()
    };
    let (mut users, mut items, mut attachments) = (0u64, 0u64, 0u64);
    let user_cols = ["id", "name", "email", "age", "balance", "bio", "created_at"];
    let item_cols = ["id", "user_id", "sku", "quantity", "price", "note", "meta"];
    let att_cols = ["id", "user_id", "name", "mime", "data", "checksum"];
    let user_frame = estimate::insert_overhead("users", &user_cols);
    let item_frame = estimate::insert_overhead("order items", &item_cols);
    let att_frame = estimate::insert_overhead("attachments", &att_cols);

    let tx = conn.transaction()?;
    {
        let mut ins_user = tx.prepare("INSERT INTO users VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?;
        let mut ins_item =
            tx.prepare("INSERT INTO \"order items\" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?;
        let mut ins_att = tx.prepare("INSERT INTO attachments VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
        let mut blob = vec![0u8; 4096];
        let mut checksum = [0u8; 16];
        while sum.dump_bytes < target {
            // One user ...
            users += 1;
            let id = users as i64;
            let name = format!("{} {}", rng.pick(FIRST), rng.pick(LAST));
            let email = (!rng.chance(10)).then(|| format!("user{id}@example.com"));
            let age = (!rng.chance(5)).then(|| rng.range(13, 99));
            let balance = money(&mut rng, 100_000_000);
            let bio = bio(&mut rng);
            let created = 1_600_000_000_000 + rng.range(0, 200_000_000_000);
            ins_user.execute(params![id, name, email, age, balance, bio, created])?;
            sum.dump_bytes += user_frame
                + estimate::int(id)
                + estimate::text(&name)
                + opt_text(&email)
                + age.map_or(estimate::NULL, estimate::int)
                + estimate::real(balance)
                + opt_text(&bio)
                + estimate::int(created);

            // ... with a few order lines ...
            for _ in 0..rng.range(1, 7) {
                items += 1;
                let item = items as i64;
                let user = rng.range(1, id);
                let sku = format!("{}-{:05}", rng.pick(SKUS), rng.below(100_000));
                let qty = rng.range(1, 20);
                let price = money(&mut rng, 50_000);
                let note = rng.chance(40).then(|| {
                    let n = rng.range(2, 10) as usize;
                    sentence(&mut rng, n)
                });
                let meta = rng.chance(70).then(|| {
                    format!(
                        "{{\"color\":\"{}\",\"gift\":{},\"tags\":[\"{}\",\"{}\"]}}",
                        rng.pick(COLORS),
                        rng.chance(10),
                        rng.pick(WORDS).replace('"', "\\\""),
                        rng.pick(SKUS)
                    )
                });
                ins_item.execute(params![item, user, sku, qty, price, note, meta])?;
                sum.dump_bytes += item_frame
                    + estimate::int(item)
                    + estimate::int(user)
                    + estimate::text(&sku)
                    + estimate::int(qty)
                    + estimate::real(price)
                    + opt_text(&note)
                    + opt_text(&meta);
            }

            // ... and now and then a file.
            if rng.chance(12) {
                attachments += 1;
                let aid = attachments as i64;
                let owner = (!rng.chance(10)).then_some(id);
                let fname = format!("scan {aid}.{}", rng.pick(&["png", "pdf", "txt", "zip"]));
                let mime = (!rng.chance(10)).then(|| rng.pick(MIMES).to_string());
                let len = rng.range(0, blob.len() as i64) as usize;
                rng.fill(&mut blob[..len]);
                let data = (!rng.chance(5)).then_some(&blob[..len]);
                rng.fill(&mut checksum);
                ins_att.execute(params![aid, owner, fname, mime, data, &checksum[..]])?;
                sum.dump_bytes += att_frame
                    + estimate::int(aid)
                    + owner.map_or(estimate::NULL, estimate::int)
                    + estimate::text(&fname)
                    + opt_text(&mime)
                    + data.map_or(estimate::NULL, |d| estimate::blob(d.len()))
                    + estimate::blob(checksum.len());
            }
        }
    }
    tx.execute_batch(OBJECTS)?;
    tx.commit()?;
    sum.tables = vec![
        ("users", users),
        ("order items", items),
        ("attachments", attachments),
    ];
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(conn: &Connection) -> Vec<String> {
        let mut out = Vec::new();
        for q in [
            "SELECT count(*), total(balance), group_concat(bio, '|') FROM users",
            "SELECT count(*), total(price), group_concat(meta, '|') FROM \"order items\"",
            "SELECT count(*), total(length(data)), hex(group_concat(checksum)) FROM attachments",
        ] {
            let row: String = conn
                .query_row(q, [], |r| {
                    Ok(format!(
                        "{:?} {:?} {:?}",
                        r.get_ref(0)?,
                        r.get_ref(1)?,
                        r.get_ref(2)?
                    ))
                })
                .unwrap();
            out.push(row);
        }
        out
    }

    #[test]
    fn the_same_seed_and_size_give_the_same_rows() {
        let mut a = Connection::open_in_memory().unwrap();
        let mut b = Connection::open_in_memory().unwrap();
        let sa = generate(&mut a, 200_000, 42).unwrap();
        let sb = generate(&mut b, 200_000, 42).unwrap();
        assert_eq!(sa, sb);
        assert_eq!(digest(&a), digest(&b));
        let mut c = Connection::open_in_memory().unwrap();
        generate(&mut c, 200_000, 43).unwrap();
        assert_ne!(digest(&a), digest(&c));
    }

    #[test]
    fn generation_stops_just_past_the_target() {
        let mut c = Connection::open_in_memory().unwrap();
        let s = generate(&mut c, 300_000, 1).unwrap();
        assert!(s.dump_bytes >= 300_000);
        assert!(s.dump_bytes < 300_000 + 64 * 1024, "{s:?}");
        let (users, items) = (s.rows("users"), s.rows("order items"));
        assert!(users > 0 && items > users && s.rows("attachments") > 0);
    }

    #[test]
    fn the_data_covers_nulls_quotes_line_breaks_and_blobs() {
        let mut c = Connection::open_in_memory().unwrap();
        generate(&mut c, 500_000, 7).unwrap();
        let count = |q: &str| -> i64 { c.query_row(q, [], |r| r.get(0)).unwrap() };
        assert!(count("SELECT count(*) FROM users WHERE bio IS NULL") > 0);
        assert!(count("SELECT count(*) FROM users WHERE instr(name, '''') > 0") > 0);
        assert!(count("SELECT count(*) FROM users WHERE instr(bio, char(10)) > 0") > 0);
        assert!(count("SELECT count(*) FROM users WHERE instr(bio, char(13)) > 0") > 0);
        assert!(count("SELECT count(*) FROM attachments WHERE typeof(data) = 'blob'") > 0);
        assert!(count("SELECT count(*) FROM \"order items\" WHERE typeof(price) = 'real'") > 0);
        let fk: i64 = count("SELECT count(*) FROM pragma_foreign_key_check");
        assert_eq!(fk, 0, "every reference points at an existing user");
    }
}
