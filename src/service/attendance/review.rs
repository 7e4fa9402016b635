//! Reviewing a photo's faces: matching them against the subject's gallery one-to-one (the
//! teacher's own assignments first) and the verdict shown for each face. Marking, drafts and
//! `rollcall eval attendance` all review through here; it depends on none of them.

use std::collections::{HashMap, HashSet};

use crate::domain::Id;
use crate::domain::attendance::Member;
use crate::matching::{DIM, Gallery, Thresholds, Verdict, decode_blob, distance, match_faces};
use crate::service::{Error, Result, faces};
use crate::storage::attendance::GalleryRow;
use crate::vision::SMALL_FACE_PX;

/// Candidates shown per face for review.
pub const REVIEW_K: usize = 3;

/// One face found in a marked photo.
#[derive(Debug, Clone)]
pub struct MarkedFace {
    /// `[left, top, right, bottom]`, clipped to the photo.
    pub bbox: [i64; 4],
    pub verdict: Verdict,
    /// Distance to the assigned student (present or uncertain).
    pub distance: Option<f32>,
    pub detector_score: f32,
    pub student: Option<Member>,
    /// The nearest students, nearest first (up to [`REVIEW_K`]).
    pub candidates: Vec<(Member, f32)>,
    /// The teacher chose the student (a saved draft's face).
    pub by_teacher: bool,
    /// Another face took a student nearer to this one: worth the teacher's look.
    pub displaced: bool,
}

/// Where a mark request's rules come from.
pub struct MarkConfig {
    pub require_consent: bool,
    pub confident: f32,
    pub uncertain: f32,
    /// A live webcam frame (the seed frontend's live mode): faces of at least 80 px and 10% of
    /// the frame are looked for, which keeps a 640x480 frame at its own size (about 60 ms).
    pub live: bool,
    /// Confirming a draft adds the faces the teacher vouched for to their students' samples
    /// (see [`crate::service::learn`]).
    pub learn: bool,
    /// When the request is handled (seconds since the epoch, the server's clock): a session's
    /// default date and slot are today's and now's in the school's time zone.
    pub now: i64,
}

impl MarkConfig {
    /// The configured thresholds, validated (a bad pair is a configuration bug: 500).
    pub(crate) fn thresholds(&self) -> Result<Thresholds> {
        Ok(Thresholds::new(self.confident, self.uncertain)?)
    }
}

/// A face to review: where it is, what it looks like and, if the teacher chose, whose it is.
#[derive(Debug, Clone)]
pub(crate) struct FaceIn {
    pub bbox: [i64; 4],
    pub score: f32,
    pub embedding: [f32; DIM],
    pub assigned: Option<Id>,
}

impl FaceIn {
    /// The faces of an analysed photo as the mark route reviews them (boxes clipped to the
    /// photo, nobody assigned yet); `rollcall eval attendance` goes through the same.
    pub(crate) fn of_photo(analysis: &crate::vision::pipeline::Analysis) -> Vec<Self> {
        analysis
            .faces
            .iter()
            .map(|f| Self {
                bbox: f.clipped(analysis.width, analysis.height),
                score: f.score,
                embedding: f.embedding,
                assigned: None,
            })
            .collect()
    }
}

/// The students nearest to `face` among `rows` (each student's nearest sample), nearest first.
fn nearest(rows: &[GalleryRow], face: &[f32; DIM], k: usize) -> Vec<(Id, f32)> {
    let mut best: HashMap<&Id, f32> = HashMap::new();
    for r in rows {
        if let Ok(e) = decode_blob(&r.embedding) {
            let d = distance(face, &e);
            best.entry(&r.student_id)
                .and_modify(|b| *b = b.min(d))
                .or_insert(d);
        }
    }
    let mut list: Vec<(Id, f32)> = best.into_iter().map(|(id, d)| (id.clone(), d)).collect();
    list.sort_by(|a, b| {
        a.1.total_cmp(&b.1)
            .then_with(|| a.0.as_str().cmp(b.0.as_str()))
    });
    list.truncate(k);
    list
}

/// Match faces against the gallery one-to-one. A face the teacher assigned to an enrolled
/// student is that student's (present); the other faces are matched against the rest.
/// Returns the faces in order and the enrolled students no face stands for.
pub(crate) fn review(
    rows: &[GalleryRow],
    members: &[Member],
    faces: &[FaceIn],
    thresholds: &Thresholds,
) -> Result<(Vec<MarkedFace>, Vec<Member>)> {
    let by_id: HashMap<&str, &Member> = members.iter().map(|m| (m.id.as_str(), m)).collect();
    let member = |id: &Id| by_id.get(id.as_str()).map(|m| (*m).clone());
    let fixed: HashSet<&Id> = faces
        .iter()
        .filter_map(|f| f.assigned.as_ref())
        .filter(|id| by_id.contains_key(id.as_str()))
        .collect();
    let gallery = Gallery::from_blobs(
        rows.iter()
            .filter(|r| !fixed.contains(&r.student_id))
            .map(|r| (r.student_id.clone(), &r.embedding)),
    )
    .map_err(|e| Error::Internal(anyhow::anyhow!("face gallery: {e}")))?;
    let open: Vec<usize> = (0..faces.len())
        .filter(|&i| {
            faces[i]
                .assigned
                .as_ref()
                .is_none_or(|id| !by_id.contains_key(id.as_str()))
        })
        .collect();
    let embeddings: Vec<[f32; DIM]> = open.iter().map(|&i| faces[i].embedding).collect();
    // A small face needs a nearer match to be present (docs/recognition.md, "Small faces").
    let thresholds_for = |k: usize| {
        open.get(k).map_or(*thresholds, |&i| {
            thresholds.for_face(faces::face_width(faces[i].bbox), SMALL_FACE_PX)
        })
    };
    let matches = if gallery.is_empty() || embeddings.is_empty() {
        Vec::new()
    } else {
        match_faces(&gallery, &embeddings, thresholds_for, REVIEW_K)
    };
    let matched: HashMap<usize, &crate::matching::FaceMatch<Id>> =
        open.iter().copied().zip(matches.iter()).collect();
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(faces.len());
    for (i, face) in faces.iter().enumerate() {
        let candidates = |list: &[(Id, f32)]| -> Vec<(Member, f32)> {
            list.iter()
                .filter_map(|(id, d)| Some((member(id)?, *d)))
                .collect()
        };
        if let Some(student) = face.assigned.as_ref().and_then(member) {
            let near = nearest(rows, &face.embedding, REVIEW_K);
            let distance = nearest(
                &rows
                    .iter()
                    .filter(|r| r.student_id == student.id)
                    .cloned()
                    .collect::<Vec<_>>(),
                &face.embedding,
                1,
            )
            .first()
            .map(|(_, d)| *d);
            seen.insert(student.id.clone());
            out.push(MarkedFace {
                bbox: face.bbox,
                verdict: Verdict::Present,
                distance,
                detector_score: face.score,
                student: Some(student),
                candidates: candidates(&near),
                by_teacher: true,
                displaced: false,
            });
            continue;
        }
        let m = matched.get(&i);
        let assigned = m.and_then(|m| m.student.as_ref());
        let student = assigned.and_then(|(id, _)| member(id));
        if let Some(s) = &student {
            seen.insert(s.id.clone());
        }
        out.push(MarkedFace {
            bbox: face.bbox,
            verdict: match (&student, m) {
                (Some(_), Some(m)) => m.verdict,
                _ => Verdict::Unknown,
            },
            distance: student.as_ref().and(assigned.map(|(_, d)| *d)),
            detector_score: face.score,
            student,
            candidates: m.map(|m| candidates(&m.candidates)).unwrap_or_default(),
            by_teacher: false,
            displaced: m.is_some_and(|m| m.displaced),
        });
    }
    let not_seen = members
        .iter()
        .filter(|m| !seen.contains(&m.id))
        .cloned()
        .collect();
    Ok((out, not_seen))
}
