//! The probe strategy both modes share: binary search over the commits after
//! the good end, with `git bisect skip` semantics.
//!
//! The commits are indexed `0..n`, oldest first; the good end is just before
//! index 0 (already judged by the caller) and the bad end is `n - 1`, probed
//! first so that nothing is guessed about a range whose bad end is not bad.
//! Then each probe halves the stretch between the last good and the first
//! bad index: at most `ceil(log2(n))` probes after the bad end when nothing
//! is skipped. A skipped index is never probed again; the search tries the
//! untested index nearest to the middle instead, and stops when only
//! skipped indices are left between the last good and the first bad.

use super::Verdict;

/// One probe made, with what the caller learnt.
#[derive(Clone, Debug)]
pub struct Probed<T> {
    /// The index probed.
    pub index: usize,
    /// Its verdict.
    pub verdict: Verdict,
    /// The caller's detail.
    pub detail: T,
}

/// How a search ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// The bad end is good: nothing in the range matches.
    BadEndGood,
    /// The bad end could not be judged.
    BadEndSkipped,
    /// The first bad index, and the skipped indices just before it that
    /// could be the real first bad one.
    Found {
        /// The first index found bad.
        first_bad: usize,
        /// Skipped indices between the last good and `first_bad`.
        maybe_earlier: Vec<usize>,
    },
}

/// A finished search.
#[derive(Clone, Debug)]
pub struct Search<T> {
    /// The probes in the order made.
    pub probes: Vec<Probed<T>>,
    /// The conclusion.
    pub end: End,
}

/// Searches `n` commits (`n > 0`) with `probe`, which judges one index.
/// A probe's error ends the search.
pub fn bisect<T, E>(
    n: usize,
    mut probe: impl FnMut(usize) -> Result<(Verdict, T), E>,
) -> Result<Search<T>, E> {
    assert!(n > 0, "a range has at least its bad end");
    let mut probes: Vec<Probed<T>> = Vec::new();
    let mut judge = |index: usize, probes: &mut Vec<Probed<T>>| -> Result<Verdict, E> {
        let (verdict, detail) = probe(index)?;
        probes.push(Probed {
            index,
            verdict,
            detail,
        });
        Ok(verdict)
    };
    let end = match judge(n - 1, &mut probes)? {
        Verdict::Good => Some(End::BadEndGood),
        Verdict::Skip => Some(End::BadEndSkipped),
        Verdict::Bad => None,
    };
    if let Some(end) = end {
        return Ok(Search { probes, end });
    }
    // `good` is the last index judged good (-1: the good end itself),
    // `bad` the first judged bad; only skipped or untested indices lie
    // between them.
    let (mut good, mut bad) = (-1_isize, n - 1);
    loop {
        let untested = |i: isize| {
            i > good && (i as usize) < bad && !probes.iter().any(|p| p.index == i as usize)
        };
        let middle = (good + bad as isize).div_euclid(2);
        let span = bad as isize - good;
        let next = (0..span)
            .flat_map(|d| [middle + d, middle - d])
            .find(|&i| untested(i));
        let Some(index) = next else { break };
        match judge(index as usize, &mut probes)? {
            Verdict::Good => good = index,
            Verdict::Bad => bad = index as usize,
            Verdict::Skip => {}
        }
    }
    let maybe_earlier = ((good + 1) as usize..bad).collect();
    Ok(Search {
        probes,
        end: End::Found {
            first_bad: bad,
            maybe_earlier,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    /// Runs a search over `n` commits whose first bad index is `first_bad`,
    /// skipping the indices in `skip`.
    fn run(n: usize, first_bad: usize, skip: &[usize]) -> Search<()> {
        bisect::<(), Infallible>(n, |i| {
            let verdict = if skip.contains(&i) {
                Verdict::Skip
            } else if i >= first_bad {
                Verdict::Bad
            } else {
                Verdict::Good
            };
            Ok((verdict, ()))
        })
        .unwrap()
    }

    fn ceil_log2(n: usize) -> usize {
        (usize::BITS - (n - 1).leading_zeros()) as usize
    }

    #[test]
    fn finds_every_first_bad_index_within_the_log_bound() {
        for n in [1, 2, 3, 7, 8, 9, 100, 299, 300] {
            for first_bad in 0..n {
                let s = run(n, first_bad, &[]);
                assert_eq!(
                    s.end,
                    End::Found {
                        first_bad,
                        maybe_earlier: vec![]
                    },
                    "n={n} k={first_bad}"
                );
                assert!(
                    s.probes.len() <= ceil_log2(n) + 1,
                    "n={n} k={first_bad}: {} probes",
                    s.probes.len()
                );
                let mut seen: Vec<usize> = s.probes.iter().map(|p| p.index).collect();
                seen.sort_unstable();
                seen.dedup();
                assert_eq!(seen.len(), s.probes.len(), "an index probed twice");
            }
        }
    }

    #[test]
    fn the_bad_end_is_probed_first_and_a_good_or_skipped_one_stops_the_search() {
        let s = run(10, 10, &[]);
        assert_eq!(s.end, End::BadEndGood);
        assert_eq!(s.probes.len(), 1);
        assert_eq!(s.probes[0].index, 9);
        let s = run(10, 3, &[9]);
        assert_eq!(s.end, End::BadEndSkipped);
        assert_eq!(s.probes.len(), 1);
    }

    #[test]
    fn a_skipped_middle_is_stepped_around() {
        // 0..=98 with the first middle, (-1 + 98) / 2 = 48, skipped: the
        // search probes a neighbour instead and still lands on the answer.
        let s = run(99, 70, &[48]);
        assert_eq!(
            s.end,
            End::Found {
                first_bad: 70,
                maybe_earlier: vec![]
            }
        );
        assert_eq!(s.probes[1].index, 48);
        assert_eq!(s.probes[1].verdict, Verdict::Skip);
        assert_eq!(s.probes[2].index, 49);
        assert!(s.probes.len() <= ceil_log2(99) + 2);
    }

    #[test]
    fn skipped_commits_just_before_the_first_bad_are_named_not_guessed() {
        let s = run(50, 30, &[28, 29]);
        assert_eq!(
            s.end,
            End::Found {
                first_bad: 30,
                maybe_earlier: vec![28, 29]
            }
        );
        // Everything but the bad end skipped.
        let s = run(5, 2, &[0, 1, 2, 3]);
        assert_eq!(
            s.end,
            End::Found {
                first_bad: 4,
                maybe_earlier: vec![0, 1, 2, 3]
            }
        );
    }
}
