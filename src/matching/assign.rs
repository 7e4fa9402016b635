//! One face per student and one student per face within a photo, chosen globally.
//!
//! Objective (lexicographic): among pairs with distance <= the uncertain threshold, first
//! **maximise the number of matched faces**, then **minimise the sum of their distances**.
//! Matching as many faces as possible first means a student's clear second choice is used when
//! the first choice is better explained by another face, instead of leaving a face unknown.
//!
//! It is solved exactly as a rectangular assignment problem (Hungarian method with potentials,
//! shortest augmenting paths, `O(F^2 C)` for `F` faces and `C` candidate students): an allowed
//! pair costs its distance, a forbidden pair or a padding column costs
//! `BIG = F * max_distance + 1`, so a face paired with a `BIG` column is unmatched. One more
//! match always saves `BIG`, more than any sum of allowed distances can add, which makes the
//! single sum equivalent to the lexicographic objective.
//!
//! Restricting each face to its `F` nearest students under the threshold loses nothing: if a
//! face were matched outside those, at most `F - 1` of them are taken by other faces, so a free
//! one at no greater distance exists and swapping to it keeps the count and does not raise the
//! sum. [`match_faces`] therefore asks the search for up to `F` students within the threshold
//! (besides the `review_k` nearest for display).

use std::collections::HashMap;
use std::hash::Hash;

use super::DIM;
use super::gallery::Gallery;
use super::search::{Candidate, SearchOptions, search_with};
use super::verdict::{Thresholds, Verdict};

/// For each face, the position in its own candidate list of the student it is matched to.
///
/// `candidates[f]` lists face `f`'s candidates (any order); only pairs with
/// `distance <= max_distance` may be matched. See the module doc for the objective.
pub fn assign(candidates: &[Vec<Candidate>], max_distance: f32) -> Vec<Option<usize>> {
    let mut result = vec![None; candidates.len()];
    // Faces with at least one allowed pair, and the students they can reach (columns).
    let mut rows: Vec<usize> = Vec::new();
    let mut columns: HashMap<u32, usize> = HashMap::new();
    let mut column_students: Vec<u32> = Vec::new();
    for (f, list) in candidates.iter().enumerate() {
        let mut any = false;
        for c in list.iter().filter(|c| c.distance <= max_distance) {
            any = true;
            columns.entry(c.student).or_insert_with(|| {
                column_students.push(c.student);
                column_students.len() - 1
            });
        }
        if any {
            rows.push(f);
        }
    }
    if rows.is_empty() {
        return result;
    }
    let n = rows.len();
    let m = column_students.len().max(n);
    let big = f64::from(max_distance) * n as f64 + 1.0;
    let mut cost = vec![big; n * m];
    // Where each matrix cell came from in the face's list; duplicates keep the nearest.
    let mut source: HashMap<(usize, usize), usize> = HashMap::new();
    for (r, &f) in rows.iter().enumerate() {
        for (pos, c) in candidates[f].iter().enumerate() {
            if c.distance > max_distance {
                continue;
            }
            let Some(&col) = columns.get(&c.student) else {
                continue;
            };
            let cell = &mut cost[r * m + col];
            let d = f64::from(c.distance);
            if d < *cell {
                *cell = d;
                source.insert((r, col), pos);
            }
        }
    }
    for (r, col) in hungarian(&cost, n, m).into_iter().enumerate() {
        // A face left on a forbidden or padding cell is unmatched.
        result[rows[r]] = source.get(&(r, col)).copied();
    }
    result
}

/// Minimum-cost assignment of each of `n` rows to a distinct column of the `n x m` row-major
/// matrix `cost` (`n <= m`, finite costs). Returns the column of each row.
///
/// Kuhn-Munkres with row/column potentials; each row is added by a Dijkstra-like search for the
/// shortest augmenting path in reduced costs.
fn hungarian(cost: &[f64], n: usize, m: usize) -> Vec<usize> {
    debug_assert!(n <= m && cost.len() == n * m);
    // 1-based rows and columns; column 0 and row 0 are the virtual start of each search.
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; m + 1];
    let mut row_of = vec![0usize; m + 1];
    let mut way = vec![0usize; m + 1];
    let mut min_to = vec![0.0f64; m + 1];
    let mut used = vec![false; m + 1];
    for i in 1..=n {
        row_of[0] = i;
        let mut j0 = 0;
        min_to.fill(f64::INFINITY);
        used.fill(false);
        loop {
            used[j0] = true;
            let i0 = row_of[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0;
            let row = &cost[(i0 - 1) * m..i0 * m];
            for j in 1..=m {
                if used[j] {
                    continue;
                }
                let reduced = row[j - 1] - u[i0] - v[j];
                if reduced < min_to[j] {
                    min_to[j] = reduced;
                    way[j] = j0;
                }
                if min_to[j] < delta {
                    delta = min_to[j];
                    j1 = j;
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[row_of[j]] += delta;
                    v[j] -= delta;
                } else {
                    min_to[j] -= delta;
                }
            }
            j0 = j1;
            if row_of[j0] == 0 {
                break;
            }
        }
        // Flip the augmenting path back to the start.
        while j0 != 0 {
            let j1 = way[j0];
            row_of[j0] = row_of[j1];
            j0 = j1;
        }
    }
    let mut col_of = vec![0usize; n];
    for j in 1..=m {
        if row_of[j] != 0 {
            col_of[row_of[j] - 1] = j - 1;
        }
    }
    col_of
}

/// The outcome for one face of a photo.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceMatch<I> {
    /// The student this face was assigned to, with its distance.
    pub student: Option<(I, f32)>,
    /// Verdict for the assigned pair; [`Verdict::Unknown`] when the face has no student.
    pub verdict: Verdict,
    /// Another face took a student nearer to this face than the one it got (or it got none
    /// although it had candidates under the uncertain threshold): worth the teacher's look.
    pub displaced: bool,
    /// The `review_k` nearest students, nearest first, whether assigned elsewhere or not.
    pub candidates: Vec<(I, f32)>,
}

/// Search every face against `gallery`, assign one-to-one, and give each face its verdict and
/// its `review_k` nearest students. `thresholds(f)` are face `f`'s thresholds (a small face
/// needs a nearer match to be present: [`Thresholds::for_face`]); a face is only matched to a
/// student within its own uncertain threshold.
pub fn match_faces<I: Clone + Eq + Hash>(
    gallery: &Gallery<I>,
    faces: &[[f32; DIM]],
    thresholds: impl Fn(usize) -> Thresholds,
    review_k: usize,
) -> Vec<FaceMatch<I>> {
    let per_face: Vec<Thresholds> = (0..faces.len()).map(thresholds).collect();
    let within = per_face
        .iter()
        .map(Thresholds::uncertain)
        .fold(0.0_f32, f32::max);
    // Up to F candidates under the threshold keep the assignment exact (see the module doc).
    let options = SearchOptions {
        within,
        within_k: faces.len(),
        ..SearchOptions::nearest(review_k)
    };
    let lists = search_with(gallery, faces, &options);
    // Each face's candidates within its own uncertain threshold: the pairs it may be matched by.
    let allowed: Vec<Vec<Candidate>> = lists
        .iter()
        .zip(&per_face)
        .map(|(list, t)| {
            list.iter()
                .filter(|c| c.distance <= t.uncertain())
                .copied()
                .collect()
        })
        .collect();
    let chosen = assign(&allowed, within);
    let id = |c: &Candidate| gallery.student(c.student).cloned();
    lists
        .iter()
        .zip(&allowed)
        .zip(&per_face)
        .zip(chosen)
        .map(|(((list, allowed), t), chosen)| {
            let assigned = chosen.and_then(|pos| allowed.get(pos));
            let best_allowed = allowed.iter().map(|c| c.distance).reduce(f32::min);
            let displaced = match (assigned, best_allowed) {
                (Some(a), Some(best)) => a.distance > best,
                (None, Some(_)) => true,
                _ => false,
            };
            FaceMatch {
                student: assigned.and_then(|c| Some((id(c)?, c.distance))),
                verdict: assigned.map_or(Verdict::Unknown, |c| t.verdict(c.distance)),
                displaced,
                candidates: list
                    .iter()
                    .take(review_k)
                    .filter_map(|c| Some((id(c)?, c.distance)))
                    .collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(student: u32, distance: f32) -> Candidate {
        Candidate { student, distance }
    }

    /// Student chosen for each face, through `assign`.
    fn students(lists: &[Vec<Candidate>], max: f32) -> Vec<Option<u32>> {
        assign(lists, max)
            .into_iter()
            .zip(lists)
            .map(|(pos, list)| pos.map(|p| list[p].student))
            .collect()
    }

    /// Lexicographic optimum by exhaustive search: (matches, -sum).
    fn brute_force(lists: &[Vec<Candidate>], max: f32) -> (usize, f64) {
        fn go(f: usize, lists: &[Vec<Candidate>], max: f32, taken: &mut Vec<u32>) -> (usize, f64) {
            if f == lists.len() {
                return (0, 0.0);
            }
            let mut best = go(f + 1, lists, max, taken);
            for cand in lists[f].iter().filter(|c| c.distance <= max) {
                if taken.contains(&cand.student) {
                    continue;
                }
                taken.push(cand.student);
                let (n, s) = go(f + 1, lists, max, taken);
                taken.pop();
                let option = (n + 1, s + f64::from(cand.distance));
                if option.0 > best.0 || (option.0 == best.0 && option.1 < best.1 - 1e-9) {
                    best = option;
                }
            }
            best
        }
        go(0, lists, max, &mut Vec::new())
    }

    fn score(lists: &[Vec<Candidate>], max: f32) -> (usize, f64) {
        let chosen = assign(lists, max);
        let mut seen = std::collections::HashSet::new();
        let mut total = (0, 0.0);
        for (pos, list) in chosen.iter().zip(lists) {
            if let Some(p) = pos {
                let cand = list[*p];
                assert!(cand.distance <= max);
                assert!(seen.insert(cand.student), "student assigned twice");
                total.0 += 1;
                total.1 += f64::from(cand.distance);
            }
        }
        total
    }

    #[test]
    fn empty_photo_and_no_candidates() {
        assert!(assign(&[], 0.6).is_empty());
        assert_eq!(assign(&[vec![], vec![c(1, 0.9)]], 0.6), vec![None, None]);
    }

    #[test]
    fn optimal_beats_greedy_on_count() {
        // Greedy gives face 0 its nearest (student 0) and leaves face 1 with nothing.
        let lists = vec![vec![c(0, 0.30), c(1, 0.40)], vec![c(0, 0.35), c(1, 0.70)]];
        assert_eq!(students(&lists, 0.6), vec![Some(1), Some(0)]);
    }

    #[test]
    fn optimal_beats_greedy_on_total_distance() {
        // Greedy: 0.30 + 0.50 = 0.80; optimal: 0.32 + 0.31 = 0.63.
        let lists = vec![vec![c(0, 0.30), c(1, 0.32)], vec![c(0, 0.31), c(1, 0.50)]];
        assert_eq!(students(&lists, 0.6), vec![Some(1), Some(0)]);
    }

    #[test]
    fn ties_give_the_student_to_exactly_one_face() {
        let lists = vec![vec![c(7, 0.4)], vec![c(7, 0.4)]];
        let chosen = students(&lists, 0.6);
        assert_eq!(chosen.iter().flatten().count(), 1);
        assert_eq!(chosen.iter().flatten().next(), Some(&7));
        let lists = vec![vec![c(1, 0.4), c(2, 0.4)], vec![c(1, 0.4), c(2, 0.4)]];
        let mut chosen = students(&lists, 0.6);
        chosen.sort();
        assert_eq!(chosen, vec![Some(1), Some(2)]);
    }

    #[test]
    fn more_faces_than_students() {
        let lists = vec![
            vec![c(0, 0.45)],
            vec![c(0, 0.20)],
            vec![c(0, 0.55)],
            vec![c(0, 0.80)],
        ];
        assert_eq!(students(&lists, 0.6), vec![None, Some(0), None, None]);
    }

    #[test]
    fn pairs_above_the_threshold_are_never_matched() {
        let lists = vec![vec![c(0, 0.61), c(1, 0.59)], vec![c(1, 0.10)]];
        assert_eq!(students(&lists, 0.6), vec![None, Some(1)]);
    }

    #[test]
    fn matches_brute_force_on_random_instances() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..500 {
            let faces = (next() % 6) as usize;
            let students_n = (next() % 6 + 1) as u32;
            let lists: Vec<Vec<Candidate>> = (0..faces)
                .map(|_| {
                    let mut list = Vec::new();
                    for s in 0..students_n {
                        let r = next();
                        if r % 3 != 0 {
                            // Coarse values make ties common.
                            list.push(c(s, ((r >> 8) % 9) as f32 * 0.1));
                        }
                    }
                    list
                })
                .collect();
            let (n, s) = score(&lists, 0.6);
            let (bn, bs) = brute_force(&lists, 0.6);
            assert_eq!(n, bn, "{lists:?}");
            assert!((s - bs).abs() < 1e-6, "{lists:?}: {s} vs {bs}");
        }
    }

    fn unit(seed: u64) -> [f32; DIM] {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let v: [f32; DIM] = std::array::from_fn(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        });
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.map(|x| x / n * 1.4)
    }

    /// `base` moved by exactly `by` in a direction given by `seed`.
    fn near(base: &[f32; DIM], seed: u64, by: f32) -> [f32; DIM] {
        let dir = unit(seed);
        let n = dir.iter().map(|x| x * x).sum::<f32>().sqrt();
        std::array::from_fn(|d| base[d] + dir[d] / n * by)
    }

    #[test]
    fn match_faces_on_empty_gallery_and_empty_photo() {
        let empty: Gallery<String> = Gallery::default();
        let t = Thresholds::default();
        let out = match_faces(&empty, &[unit(1)], |_| t, 5);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].verdict, Verdict::Unknown);
        assert!(out[0].student.is_none() && out[0].candidates.is_empty() && !out[0].displaced);
        let g = Gallery::from_embeddings([("a", unit(1))]).unwrap_or_else(|e| panic!("{e}"));
        assert!(match_faces(&g, &[], |_| t, 5).is_empty());
    }

    #[test]
    fn twins_are_told_apart_one_to_one() {
        let a = unit(10);
        let b = near(&a, 11, 0.08);
        let g = Gallery::from_embeddings([("ann", a), ("bea", b), ("cid", unit(12))])
            .unwrap_or_else(|e| panic!("{e}"));
        let t = Thresholds::default();
        // Both faces look most like Ann, but face 1 looks like Bea almost as much.
        let f0 = near(&a, 20, 0.30);
        let f1 = near(&a, 21, 0.30);
        let out = match_faces(&g, &[f0, f1], |_| t, 3);
        let names: Vec<Option<&str>> = out
            .iter()
            .map(|m| m.student.as_ref().map(|(s, _)| *s))
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(sorted, vec![Some("ann"), Some("bea")], "{out:?}");
        for m in &out {
            assert_ne!(m.verdict, Verdict::Unknown);
            assert!(m.candidates.len() >= 2, "losing face keeps its candidates");
        }
        assert_eq!(out.iter().filter(|m| m.displaced).count(), {
            let best: Vec<&str> = out.iter().map(|m| m.candidates[0].0).collect();
            usize::from(best[0] == best[1])
        });
    }

    #[test]
    fn each_face_is_judged_by_its_own_thresholds() {
        let a = unit(50);
        let b = unit(51);
        let g =
            Gallery::from_embeddings([("ann", a), ("bob", b)]).unwrap_or_else(|e| panic!("{e}"));
        let base = Thresholds::default();
        // Face 0 is small: present only within 0.40. Face 1 has a lower uncertain threshold
        // (0.45), so Bob at 0.48 is not its match at all.
        let strict = Thresholds::new(0.40, 0.60).unwrap_or_else(|e| panic!("{e}"));
        let narrow = Thresholds::new(0.40, 0.45).unwrap_or_else(|e| panic!("{e}"));
        let faces = [near(&a, 52, 0.45), near(&b, 53, 0.48)];
        let out = match_faces(&g, &faces, |f| [strict, narrow][f], 2);
        assert_eq!(out[0].student.as_ref().map(|(s, _)| *s), Some("ann"));
        assert_eq!(out[0].verdict, Verdict::Uncertain);
        assert_eq!(out[1].student, None);
        assert_eq!(out[1].verdict, Verdict::Unknown);
        assert!(!out[1].displaced, "no candidate within its threshold");
        assert_eq!(out[1].candidates[0].0, "bob", "still offered for review");
        // The same faces under the base thresholds: Ann present, Bob present.
        let out = match_faces(&g, &faces, |_| base, 2);
        assert_eq!(out[0].verdict, Verdict::Present);
        assert_eq!(out[1].student.as_ref().map(|(s, _)| *s), Some("bob"));
        assert_eq!(out[1].verdict, Verdict::Present);
    }

    #[test]
    fn losing_face_keeps_candidates_for_review() {
        let a = unit(30);
        let g = Gallery::from_embeddings([("ann", a), ("zed", unit(31))])
            .unwrap_or_else(|e| panic!("{e}"));
        let t = Thresholds::default();
        let out = match_faces(&g, &[near(&a, 40, 0.45), near(&a, 41, 0.20)], |_| t, 2);
        assert_eq!(out[1].student.as_ref().map(|(s, _)| *s), Some("ann"));
        assert_eq!(out[1].verdict, Verdict::Present);
        assert!(!out[1].displaced);
        assert_eq!(out[0].student, None);
        assert_eq!(out[0].verdict, Verdict::Unknown);
        assert!(out[0].displaced);
        assert_eq!(out[0].candidates.len(), 2);
        assert_eq!(out[0].candidates[0].0, "ann");
        assert!((out[0].candidates[0].1 - 0.45).abs() < 1e-4);
    }
}
