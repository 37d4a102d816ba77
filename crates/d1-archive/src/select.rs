//! Choosing among one database's backups: the newest good one, or the newest good one taken
//! at or before a time (restore "as of 22 November"). Written once, for d1-ls's `--latest` and
//! `--at` and d1-prune's "never the newest verified backup".

/// The index of the newest good item (taken at or before `at` when given); among items taken
/// at the same time, the first in the order given. `None` when there is no good one.
pub fn newest_good<T>(
    items: &[T],
    at: Option<i64>,
    time: impl Fn(&T) -> i64,
    good: impl Fn(&T) -> bool,
) -> Option<usize> {
    let mut best: Option<(usize, i64)> = None;
    for (i, item) in items.iter().enumerate() {
        let t = time(item);
        if !good(item) || at.is_some_and(|at| t > at) {
            continue;
        }
        if best.is_none_or(|(_, b)| t > b) {
            best = Some((i, t));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_good_one_first_given_among_equals_and_none_after_at() {
        let items = [(5, true), (9, false), (7, true), (7, true), (3, true)];
        let pick = |at| newest_good(&items, at, |x| x.0, |x| x.1);
        assert_eq!(pick(None), Some(2));
        assert_eq!(pick(Some(6)), Some(0));
        assert_eq!(pick(Some(4)), Some(4));
        assert_eq!(pick(Some(2)), None);
        assert_eq!(
            newest_good(&[(1, false)], None, |x: &(i64, bool)| x.0, |x| x.1),
            None
        );
    }
}
