//! The second shape (`--shape text`): a text-heavy forum whose dump looks unlike ours, to keep
//! d1-verify honest on dumps it was not tuned for (issue 24).
//!
//! Long rows of unicode and emoji text, about one INSERT in ten holding a line break (D1's
//! `replace('…\n…','\n',char(10))` form), integers beyond 2^53 (snowflake ids, counters), four
//! foreign keys per comment row, a self-reference, a `WITHOUT ROWID` table and a table whose name
//! has a space. Integers beyond 2^53 come back from a D1 dump rounded (docs/d1-emulator.md): this
//! shape's restore is measured, not compared with the original.

use crate::estimate;
use crate::gen::Summary;
use crate::rng::Rng;
use rusqlite::{params, Connection};

const TABLES: &str = r#"
CREATE TABLE authors (
    id INTEGER PRIMARY KEY,
    handle TEXT NOT NULL UNIQUE,
    display_name TEXT,
    karma INTEGER,
    joined_at INTEGER NOT NULL
);
CREATE TABLE "blog posts" (
    id INTEGER PRIMARY KEY,
    author_id INTEGER NOT NULL REFERENCES authors(id),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    views INTEGER,
    score REAL
);
CREATE TABLE comments (
    id INTEGER PRIMARY KEY,
    post_id INTEGER NOT NULL REFERENCES "blog posts"(id),
    author_id INTEGER REFERENCES authors(id),
    parent_id INTEGER REFERENCES comments(id),
    body TEXT NOT NULL,
    snowflake INTEGER NOT NULL
);
CREATE TABLE tags (
    post_id INTEGER NOT NULL REFERENCES "blog posts"(id),
    tag TEXT NOT NULL,
    weight INTEGER,
    PRIMARY KEY (post_id, tag)
) WITHOUT ROWID;
"#;

const OBJECTS: &str = r#"
CREATE INDEX comments_by_post ON comments(post_id);
CREATE INDEX posts_by_author ON "blog posts"(author_id);
"#;

const WORDS: &[&str] = &[
    "über",
    "naïve",
    "façade",
    "smörgåsbord",
    "Ελληνικά",
    "русский",
    "日本語のテキスト",
    "中文内容",
    "한국어",
    "עברית",
    "العربية",
    "हिन्दी",
    "ไทย",
    "🎉",
    "🚀",
    "👍🏽",
    "👨‍👩‍👧",
    "🇯🇵",
    "café",
    "it's",
    "\"quoted\"",
    "backup",
    "restore",
    "the",
    "and",
    "of",
    "database",
    "latency",
    "p99",
    "C:\\path",
    "50%",
    "--",
    "/*",
    "x",
];
const TAGS: &[&str] = &[
    "rust", "sqlite", "d1", "backup", "ops", "cron", "édition", "日本", "🔥", "how-to", "release",
    "security",
];

/// 2^53: integers above it do not survive a trip through a JavaScript double.
const EXACT: i64 = 1 << 53;

fn words(rng: &mut Rng, n: usize) -> String {
    rng.sentence(WORDS, n)
}

/// Paragraphs joined by a line break `percent` % of the time, else one long line.
fn text(rng: &mut Rng, lo: i64, hi: i64, percent: u64) -> String {
    let n = rng.range(lo, hi) as usize;
    let mut s = words(rng, n);
    if rng.chance(percent) {
        s.push_str("\n\n");
        let n = rng.range(lo, hi) as usize / 2 + 1;
        s.push_str(&words(rng, n));
    }
    s
}

/// An integer beyond 2^53 (a snowflake id, a counter that overflowed a double).
fn big(rng: &mut Rng) -> i64 {
    EXACT + rng.range(1, i64::MAX - EXACT)
}

/// Fills `conn` (which must be empty) until the estimated dump reaches `target` bytes.
pub fn generate(conn: &mut Connection, target: u64, seed: u64) -> rusqlite::Result<Summary> {
    conn.execute_batch(TABLES)?;
    let mut rng = Rng::new(seed);
    let mut sum = Summary {
        dump_bytes: (TABLES.len() + OBJECTS.len()) as u64 + 64,
        ..Summary::default()
    };
    let author_frame = estimate::insert_overhead(
        "authors",
        &["id", "handle", "display_name", "karma", "joined_at"],
    );
    let post_frame = estimate::insert_overhead(
        "blog posts",
        &["id", "author_id", "title", "body", "views", "score"],
    );
    let comment_frame = estimate::insert_overhead(
        "comments",
        &[
            "id",
            "post_id",
            "author_id",
            "parent_id",
            "body",
            "snowflake",
        ],
    );
    let tag_frame = estimate::insert_overhead("tags", &["post_id", "tag", "weight"]);
    let (mut authors, mut posts, mut comments, mut tags) = (0i64, 0i64, 0i64, 0u64);

    let tx = conn.transaction()?;
    {
        let mut ins_author = tx.prepare("INSERT INTO authors VALUES (?1, ?2, ?3, ?4, ?5)")?;
        let mut ins_post =
            tx.prepare("INSERT INTO \"blog posts\" VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
        let mut ins_comment = tx.prepare("INSERT INTO comments VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
        let mut ins_tag = tx.prepare("INSERT OR IGNORE INTO tags VALUES (?1, ?2, ?3)")?;
        while sum.dump_bytes < target {
            authors += 1;
            let author = authors;
            let handle = format!("{}_{author}", rng.pick(WORDS));
            let display = (!rng.chance(10)).then(|| words(&mut rng, 2));
            let karma = if rng.chance(30) {
                big(&mut rng)
            } else {
                rng.range(-1000, 1_000_000)
            };
            let joined = 1_500_000_000_000 + rng.range(0, 300_000_000_000);
            ins_author.execute(params![author, handle, display, karma, joined])?;
            sum.dump_bytes += author_frame
                + estimate::int(author)
                + estimate::text(&handle)
                + display.as_deref().map_or(estimate::NULL, estimate::text)
                + estimate::int(karma)
                + estimate::int(joined);

            for _ in 0..rng.range(0, 3) {
                posts += 1;
                let by = rng.range(1, author);
                let n = rng.range(3, 10) as usize;
                let title = words(&mut rng, n);
                let body = text(&mut rng, 60, 400, 25);
                let views = rng.chance(20).then(|| big(&mut rng));
                let score = rng.range(0, 1_000_000) as f64 / 997.0;
                ins_post.execute(params![posts, by, title, body, views, score])?;
                sum.dump_bytes += post_frame
                    + estimate::int(posts)
                    + estimate::int(by)
                    + estimate::text(&title)
                    + estimate::text(&body)
                    + views.map_or(estimate::NULL, estimate::int)
                    + estimate::real(score);
                for _ in 0..rng.range(1, 4) {
                    let tag = rng.pick(TAGS);
                    let weight = rng.range(1, 100);
                    if ins_tag.execute(params![posts, tag, weight])? == 1 {
                        tags += 1;
                        sum.dump_bytes += tag_frame
                            + estimate::int(posts)
                            + estimate::text(tag)
                            + estimate::int(weight);
                    }
                }
            }
            if posts == 0 {
                continue;
            }
            for _ in 0..rng.range(0, 10) {
                comments += 1;
                let post = rng.range(1, posts);
                let by = (!rng.chance(5)).then(|| rng.range(1, author));
                let parent = (comments > 1 && rng.chance(40)).then(|| rng.range(1, comments - 1));
                let body = text(&mut rng, 5, 80, 12);
                let flake = big(&mut rng);
                ins_comment.execute(params![comments, post, by, parent, body, flake])?;
                sum.dump_bytes += comment_frame
                    + estimate::int(comments)
                    + estimate::int(post)
                    + by.map_or(estimate::NULL, estimate::int)
                    + parent.map_or(estimate::NULL, estimate::int)
                    + estimate::text(&body)
                    + estimate::int(flake);
            }
        }
    }
    tx.execute_batch(OBJECTS)?;
    tx.commit()?;
    sum.tables = vec![
        ("authors", authors as u64),
        ("blog posts", posts as u64),
        ("comments", comments as u64),
        ("tags", tags),
    ];
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_shape_has_what_the_issue_asks_for() {
        let mut c = Connection::open_in_memory().unwrap();
        let s = generate(&mut c, 400_000, 5).unwrap();
        assert!(
            s.dump_bytes >= 400_000 && s.dump_bytes < 400_000 + 64 * 1024,
            "{s:?}"
        );
        let count = |q: &str| -> i64 { c.query_row(q, [], |r| r.get(0)).unwrap() };
        assert!(count("SELECT count(*) FROM comments WHERE snowflake > 9007199254740992") > 0);
        assert!(count("SELECT count(*) FROM \"blog posts\" WHERE instr(body, char(10)) > 0") > 0);
        assert!(count("SELECT count(*) FROM comments WHERE parent_id IS NOT NULL") > 0);
        assert!(count("SELECT count(*) FROM tags") > 0);
        let fk: i64 = count("SELECT count(*) FROM pragma_foreign_key_check");
        assert_eq!(fk, 0, "every reference points at an existing row");
    }
}
