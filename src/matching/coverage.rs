//! Which of a student's face samples to let go when there are more than the gallery keeps: the
//! ones that add least coverage of how the student looks.
//!
//! A student is recognised by their *nearest* sample, so a sample is worth keeping for the part
//! of "face space" only it covers. The two samples nearest each other are the most redundant
//! pair: dropping either loses least. Of that pair the one dropped is the one whose next nearest
//! sample (other than its partner) is nearer, i.e. the one the rest of the gallery covers
//! better. When that does not decide (exact duplicates, or only two samples), the older goes:
//! a face changes over the school years, and the newer photo shows it as it is now. A new
//! sample is therefore dropped only when it is (with its partner) the closest pair, i.e. when
//! it covers nothing the gallery did not already cover.

use super::{DIM, distance};

/// Indices (into `samples`, oldest first) of the samples to drop so that `keep` remain, in the
/// order they were chosen. Empty when there are `keep` or fewer.
#[must_use]
pub fn least_covering(samples: &[[f32; DIM]], keep: usize) -> Vec<usize> {
    let n = samples.len();
    if n <= keep {
        return Vec::new();
    }
    let mut d = vec![0.0f32; n * n];
    for i in 0..n {
        for j in i + 1..n {
            let x = distance(&samples[i], &samples[j]);
            // A NaN (a corrupt embedding) counts as nearest: such a sample covers nothing.
            let x = if x.is_nan() { -1.0 } else { x };
            d[i * n + j] = x;
            d[j * n + i] = x;
        }
    }
    let mut alive: Vec<usize> = (0..n).collect();
    let mut dropped = Vec::with_capacity(n - keep);
    while alive.len() > keep {
        // The closest pair (lowest indices first on a tie, so the choice is deterministic).
        let mut best: Option<(usize, usize, f32)> = None;
        for (a, &i) in alive.iter().enumerate() {
            for &j in &alive[a + 1..] {
                let x = d[i * n + j];
                if best.is_none_or(|(_, _, b)| x < b) {
                    best = Some((i, j, x));
                }
            }
        }
        let Some((i, j, _)) = best else { break };
        // Each one's nearest other sample, its partner aside.
        let next = |me: usize, partner: usize| {
            alive
                .iter()
                .filter(|&&k| k != me && k != partner)
                .map(|&k| d[me * n + k])
                .fold(f32::INFINITY, f32::min)
        };
        let (ni, nj) = (next(i, j), next(j, i));
        // i is the older (samples are oldest first): it goes unless j is strictly better covered.
        let gone = if nj < ni { j } else { i };
        alive.retain(|&k| k != gone);
        dropped.push(gone);
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A point `scale` along axis `axis`, plus `nudge` along axis 127.
    fn at(axis: usize, scale: f32, nudge: f32) -> [f32; DIM] {
        let mut v = [0.0; DIM];
        v[axis] = scale;
        v[DIM - 1] += nudge;
        v
    }

    #[test]
    fn nothing_goes_while_there_is_room() {
        let s: Vec<_> = (0..5).map(|i| at(i, 1.0, 0.0)).collect();
        assert!(least_covering(&s, 5).is_empty());
        assert!(least_covering(&s, 30).is_empty());
    }

    #[test]
    fn the_near_duplicate_goes_whatever_its_age() {
        // Ten spread-out samples; a near-duplicate of sample 3 arrives last.
        let mut s: Vec<_> = (0..10).map(|i| at(i, 1.0, 0.0)).collect();
        s.push(at(3, 1.0, 0.01));
        let gone = least_covering(&s, 10);
        assert_eq!(gone.len(), 1);
        assert!(gone[0] == 3 || gone[0] == 10, "{gone:?}");
        // A new sample that covers something new is never the one dropped: the closest pair
        // is elsewhere.
        let mut s: Vec<_> = (0..10).map(|i| at(i, 1.0, 0.0)).collect();
        s[7] = at(6, 1.0, 0.02);
        s.push(at(11, 1.0, 0.0));
        assert_eq!(least_covering(&s, 10), vec![6]);
    }

    #[test]
    fn of_a_pair_the_better_covered_one_goes() {
        // 0 and 1 are the closest pair; 1 also has 2 nearby, so 1 is the better covered.
        let s = vec![
            at(0, 1.0, 0.0),
            at(0, 1.0, 0.05),
            at(0, 1.0, 0.12),
            at(5, 1.0, 0.0),
        ];
        assert_eq!(least_covering(&s, 3), vec![1]);
    }

    #[test]
    fn of_exact_duplicates_the_older_goes() {
        let s = vec![at(0, 1.0, 0.0), at(1, 1.0, 0.0), at(0, 1.0, 0.0)];
        assert_eq!(least_covering(&s, 2), vec![0]);
    }

    #[test]
    fn several_go_at_once_leaving_the_spread() {
        // Three tight clusters of four: down to three, one of each cluster stays.
        let mut s = Vec::new();
        for axis in [0, 40, 80] {
            for k in 0..4u8 {
                s.push(at(axis, 1.0, f32::from(k) * 0.01));
            }
        }
        let gone = least_covering(&s, 3);
        assert_eq!(gone.len(), 9);
        let kept: Vec<usize> = (0..12).filter(|i| !gone.contains(i)).collect();
        let clusters: Vec<usize> = kept.iter().map(|i| i / 4).collect();
        assert_eq!(clusters, vec![0, 1, 2], "{kept:?}");
    }
}
