//! The enrolled embeddings of one subject (or the whole school), laid out for the search kernel,
//! and a small thread-safe cache of built galleries.
//!
//! Rows are stored in panels of [`LANES`] embeddings, dimension-major inside a panel
//! (`panel[d][lane]`), so the kernel loads one dimension of 16 rows with one vector load and needs
//! no transposition at search time. It is still one contiguous block of `f32`: 512 bytes per
//! embedding (plus at most 15 zero rows of padding per gallery), 4 bytes of squared norm and a
//! 4-byte student index; each student's id is stored once.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, PoisonError, RwLock};

use super::DIM;
use super::Error;
use super::blob::decode_blob;

/// Rows per panel: one AVX-512 vector, two AVX2 vectors, four SSE/NEON vectors of `f32`.
pub(super) const LANES: usize = 16;

/// 16 rows of the gallery, dimension-major. Aligned to a cache line so that vector loads never
/// straddle two lines.
#[derive(Clone)]
#[repr(align(64))]
pub(super) struct Panel(pub(super) [[f32; LANES]; DIM]);

/// Enrolled embeddings with precomputed squared norms; several rows per student.
///
/// `I` is the student id type (the service uses the 24-hex string id or a newtype of it).
#[derive(Clone)]
pub struct Gallery<I> {
    pub(super) panels: Vec<Panel>,
    /// Squared norm of each row, per panel; `+inf` for padding rows so that they never match.
    pub(super) sq_norms: Vec<[f32; LANES]>,
    /// Student index (into `students`) of each real row.
    pub(super) row_student: Vec<u32>,
    students: Vec<I>,
    rows: usize,
}

impl<I> Default for Gallery<I> {
    fn default() -> Self {
        Self {
            panels: Vec::new(),
            sq_norms: Vec::new(),
            row_student: Vec::new(),
            students: Vec::new(),
            rows: 0,
        }
    }
}

impl<I: Clone + Eq + Hash> Gallery<I> {
    /// Build from `(student_id, embedding)` pairs; a student may appear any number of times.
    pub fn from_embeddings<E>(rows: impl IntoIterator<Item = (I, E)>) -> Result<Self, Error>
    where
        E: Borrow<[f32; DIM]>,
    {
        let rows = rows.into_iter();
        let mut builder = GalleryBuilder::with_capacity(rows.size_hint().0);
        for (id, embedding) in rows {
            builder.push(id, embedding.borrow())?;
        }
        Ok(builder.build())
    }

    /// Build from `(student_id, blob)` pairs as read from SQLite (see [`super::decode_blob`]).
    pub fn from_blobs<B>(rows: impl IntoIterator<Item = (I, B)>) -> Result<Self, Error>
    where
        B: AsRef<[u8]>,
    {
        let rows = rows.into_iter();
        let mut builder = GalleryBuilder::with_capacity(rows.size_hint().0);
        for (row, (id, blob)) in rows.enumerate() {
            let embedding = decode_blob(blob.as_ref()).map_err(|source| Error::Blob {
                row,
                source: Box::new(source),
            })?;
            builder.push(id, &embedding)?;
        }
        Ok(builder.build())
    }
}

impl<I> Gallery<I> {
    /// Number of embeddings (rows).
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Distinct students, in order of first appearance; a [`super::Candidate`]'s `student` indexes
    /// this slice.
    pub fn students(&self) -> &[I] {
        &self.students
    }

    /// Id of the student with index `student`, if it exists.
    pub fn student(&self, student: u32) -> Option<&I> {
        self.students.get(student as usize)
    }

    /// Student index of row `row`.
    pub fn row_student(&self, row: usize) -> Option<u32> {
        self.row_student.get(row).copied()
    }

    /// Embedding of row `row`, gathered back from the panel layout.
    pub fn row(&self, row: usize) -> Option<[f32; DIM]> {
        if row >= self.rows {
            return None;
        }
        let panel = &self.panels[row / LANES].0;
        let lane = row % LANES;
        Some(std::array::from_fn(|d| panel[d][lane]))
    }

    /// Heap bytes held by the vectors, norms and row index (not counting the ids' own heap data).
    pub fn heap_bytes(&self) -> usize {
        self.panels.capacity() * size_of::<Panel>()
            + self.sq_norms.capacity() * size_of::<[f32; LANES]>()
            + self.row_student.capacity() * size_of::<u32>()
            + self.students.capacity() * size_of::<I>()
    }
}

/// Incremental construction of a [`Gallery`], for callers that stream rows from the database.
pub struct GalleryBuilder<I> {
    gallery: Gallery<I>,
    index: HashMap<I, u32>,
}

impl<I: Clone + Eq + Hash> Default for GalleryBuilder<I> {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl<I: Clone + Eq + Hash> GalleryBuilder<I> {
    pub fn with_capacity(rows: usize) -> Self {
        let mut gallery = Gallery::default();
        gallery.panels.reserve(rows.div_ceil(LANES));
        gallery.sq_norms.reserve(rows.div_ceil(LANES));
        gallery.row_student.reserve(rows);
        Self {
            gallery,
            index: HashMap::new(),
        }
    }

    /// Append one embedding of student `id`.
    pub fn push(&mut self, id: I, embedding: &[f32; DIM]) -> Result<(), Error> {
        let g = &mut self.gallery;
        let row = g.rows;
        if embedding.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite { row });
        }
        let next_student = u32::try_from(g.students.len()).map_err(|_| Error::TooLarge)?;
        if u32::try_from(row).is_err() {
            return Err(Error::TooLarge);
        }
        let student = *self.index.entry(id).or_insert_with_key(|id| {
            g.students.push(id.clone());
            next_student
        });
        let lane = row % LANES;
        if lane == 0 {
            g.panels.push(Panel([[0.0; LANES]; DIM]));
            g.sq_norms.push([f32::INFINITY; LANES]);
        }
        let (Some(panel), Some(norms)) = (g.panels.last_mut(), g.sq_norms.last_mut()) else {
            unreachable!("a panel was pushed for lane 0");
        };
        for (d, &v) in embedding.iter().enumerate() {
            panel.0[d][lane] = v;
        }
        norms[lane] = super::search::sq_norm(embedding);
        g.row_student.push(student);
        g.rows += 1;
        Ok(())
    }

    pub fn build(self) -> Gallery<I> {
        self.gallery
    }
}

/// Built galleries keyed by subject (or any key), shared between requests.
///
/// Building happens outside the lock so that a slow database read does not block searches of
/// other subjects. A per-key generation makes [`GalleryCache::invalidate`] win over a build that
/// started before it: that build's result is returned to its caller but not cached.
pub struct GalleryCache<K, I> {
    inner: RwLock<CacheState<K, I>>,
}

struct CacheState<K, I> {
    galleries: HashMap<K, Arc<Gallery<I>>>,
    generations: HashMap<K, u64>,
}

impl<K, I> Default for GalleryCache<K, I> {
    fn default() -> Self {
        Self {
            inner: RwLock::new(CacheState {
                galleries: HashMap::new(),
                generations: HashMap::new(),
            }),
        }
    }
}

impl<K: Clone + Eq + Hash, I> GalleryCache<K, I> {
    pub fn new() -> Self {
        Self::default()
    }

    /// The cached gallery for `key`, or the result of `build` (cached unless invalidated meanwhile).
    pub fn get_or_build<E>(
        &self,
        key: &K,
        build: impl FnOnce() -> Result<Gallery<I>, E>,
    ) -> Result<Arc<Gallery<I>>, E> {
        // The map is consistent after every write, so a panic elsewhere leaves nothing to repair.
        let generation = {
            let state = self.inner.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(g) = state.galleries.get(key) {
                return Ok(Arc::clone(g));
            }
            state.generations.get(key).copied().unwrap_or(0)
        };
        let built = Arc::new(build()?);
        let mut state = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if state.generations.get(key).copied().unwrap_or(0) == generation {
            let cached = state
                .galleries
                .entry(key.clone())
                .or_insert_with(|| Arc::clone(&built));
            return Ok(Arc::clone(cached));
        }
        Ok(built)
    }

    /// Drop the cached gallery for `key`; the next [`GalleryCache::get_or_build`] rebuilds it.
    pub fn invalidate(&self, key: &K) {
        let mut state = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        state.galleries.remove(key);
        *state.generations.entry(key.clone()).or_insert(0) += 1;
    }

    /// Drop every cached gallery (e.g. after a restore from backup).
    pub fn clear(&self) {
        let mut state = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let CacheState {
            galleries,
            generations,
        } = &mut *state;
        for key in galleries.keys() {
            *generations.entry(key.clone()).or_insert(0) += 1;
        }
        galleries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::blob::encode_blob;
    use std::convert::Infallible;

    fn emb(seed: f32) -> [f32; DIM] {
        std::array::from_fn(|d| ((d as f32 + 1.0) * seed).sin() * 0.12)
    }

    fn build(rows: &[(&str, [f32; DIM])]) -> Gallery<String> {
        Gallery::from_embeddings(rows.iter().map(|(id, e)| (id.to_string(), e)))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn rows_students_and_norms_round_trip() {
        let rows: Vec<(&str, [f32; DIM])> = (0..37)
            .map(|i| (["a", "b", "c"][i % 3], emb(i as f32 + 0.5)))
            .collect();
        let g = build(&rows);
        assert_eq!(g.len(), 37);
        assert_eq!(g.students(), ["a", "b", "c"]);
        assert_eq!(g.panels.len(), 3);
        for (i, (id, e)) in rows.iter().enumerate() {
            assert_eq!(g.row(i), Some(*e));
            let s = g.row_student(i).unwrap_or_else(|| panic!("row {i}"));
            assert_eq!(g.student(s).map(String::as_str), Some(*id));
            let n = e.iter().map(|v| v * v).sum::<f32>();
            assert!((g.sq_norms[i / LANES][i % LANES] - n).abs() < 1e-5);
        }
        assert_eq!(g.row(37), None);
        assert!(g.sq_norms[2][37 % LANES..].iter().all(|n| n.is_infinite()));
        assert!(g.heap_bytes() >= 37 * 512);
    }

    #[test]
    fn blobs_are_validated_with_their_row() {
        let good = encode_blob(&emb(1.0));
        let g = Gallery::from_blobs([("x", good.clone()), ("y", good.clone())])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(g.len(), 2);
        let err = Gallery::from_blobs([("x", good), ("y", vec![0u8; 3])]).err();
        assert_eq!(
            err,
            Some(Error::Blob {
                row: 1,
                source: Box::new(Error::BlobLength(3))
            })
        );
        let mut nan = emb(2.0);
        nan[3] = f32::NAN;
        let err = Gallery::from_embeddings([("x", nan)]).err();
        assert_eq!(err, Some(Error::NonFinite { row: 0 }));
    }

    #[test]
    fn cache_builds_once_and_invalidates() {
        let cache: GalleryCache<u32, String> = GalleryCache::new();
        let mut builds = 0;
        for _ in 0..3 {
            let g = cache
                .get_or_build(&7, || {
                    builds += 1;
                    Ok::<_, Infallible>(build(&[("s", emb(1.0))]))
                })
                .unwrap_or_else(|e| match e {});
            assert_eq!(g.len(), 1);
        }
        assert_eq!(builds, 1);
        cache.invalidate(&7);
        let g = cache
            .get_or_build(&7, || {
                Ok::<_, Infallible>(build(&[("s", emb(1.0)), ("t", emb(2.0))]))
            })
            .unwrap_or_else(|e| match e {});
        assert_eq!(g.len(), 2);
        let failed = cache.get_or_build(&8, || Err("database down"));
        assert_eq!(failed.err(), Some("database down"));
    }

    #[test]
    fn invalidation_during_a_build_is_not_lost() {
        let cache: GalleryCache<u32, String> = GalleryCache::new();
        let stale = cache
            .get_or_build(&1, || {
                // A student's consent is withdrawn while the old rows are being read.
                cache.invalidate(&1);
                Ok::<_, Infallible>(build(&[("old", emb(1.0))]))
            })
            .unwrap_or_else(|e| match e {});
        assert_eq!(stale.len(), 1);
        let fresh = cache
            .get_or_build(&1, || Ok::<_, Infallible>(Gallery::default()))
            .unwrap_or_else(|e| match e {});
        assert!(
            fresh.is_empty(),
            "the stale build must not have been cached"
        );
        cache.clear();
    }
}
