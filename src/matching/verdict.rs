//! What a distance means: present, uncertain (the teacher decides) or unknown.

use super::Error;

/// Validated distance thresholds (`ML_CONFIDENT_THRESHOLD`, `ML_UNCERTAIN_THRESHOLD`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    confident: f32,
    uncertain: f32,
}

/// How much nearer than the confident threshold the smallest faces (half the enrolment minimum
/// and below) must be to count as present.
pub const SMALL_FACE_MARGIN: f32 = 0.10;

/// The decision for one face's best match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Distance at or below the confident threshold.
    Present,
    /// Above the confident, at or below the uncertain threshold: shown to the teacher.
    Uncertain,
    /// Above the uncertain threshold, not a number, or no student at all.
    Unknown,
}

impl Thresholds {
    /// Both finite and positive, `confident < uncertain`.
    pub fn new(confident: f32, uncertain: f32) -> Result<Self, Error> {
        let valid = |t: f32| t.is_finite() && t > 0.0;
        if !valid(confident) || !valid(uncertain) {
            return Err(Error::ThresholdsNotPositive {
                confident,
                uncertain,
            });
        }
        if confident >= uncertain {
            return Err(Error::ThresholdsOrder {
                confident,
                uncertain,
            });
        }
        Ok(Self {
            confident,
            uncertain,
        })
    }

    pub fn confident(&self) -> f32 {
        self.confident
    }

    pub fn uncertain(&self) -> f32 {
        self.uncertain
    }

    /// The thresholds for a face `width` px wide, where faces narrower than `small` px (the
    /// enrolment minimum) are small. A small face's distances are noisier, the more so the
    /// smaller it is: to be present it must come nearer than the confident threshold by a
    /// margin that grows linearly from nothing at `small` to [`SMALL_FACE_MARGIN`] at half of
    /// `small` and below. Up to the uncertain threshold it is offered for review
    /// (docs/recognition.md, "Small faces").
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn for_face(&self, width: i64, small: i64) -> Self {
        if width >= small || small <= 0 {
            return *self;
        }
        let shortfall = ((small - width) as f32 / (small as f32 / 2.0)).clamp(0.0, 1.0);
        let margin = SMALL_FACE_MARGIN * shortfall;
        // To a millionth, so that 0.50 less 0.10 is 0.40 inclusive as a reader expects, not
        // the f32 just below it.
        let confident = ((self.confident - margin) * 1e6).round() / 1e6;
        Self {
            confident: confident.max(0.0),
            uncertain: self.uncertain,
        }
    }

    pub fn verdict(&self, distance: f32) -> Verdict {
        if distance <= self.confident {
            Verdict::Present
        } else if distance <= self.uncertain {
            Verdict::Uncertain
        } else {
            Verdict::Unknown
        }
    }
}

impl Default for Thresholds {
    /// The documented defaults, 0.50 and 0.60.
    fn default() -> Self {
        Self {
            confident: 0.50,
            uncertain: 0.60,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_inclusive() {
        let t = Thresholds::default();
        assert_eq!(t.verdict(0.0), Verdict::Present);
        assert_eq!(t.verdict(0.50), Verdict::Present);
        assert_eq!(t.verdict(0.500_001), Verdict::Uncertain);
        assert_eq!(t.verdict(0.60), Verdict::Uncertain);
        assert_eq!(t.verdict(0.600_001), Verdict::Unknown);
        assert_eq!(t.verdict(f32::NAN), Verdict::Unknown);
        assert_eq!(t.verdict(f32::INFINITY), Verdict::Unknown);
    }

    #[test]
    fn small_faces_need_a_nearer_match_to_be_present() {
        let t = Thresholds::default();
        assert_eq!(t.for_face(40, 40), t);
        assert_eq!(t.for_face(300, 40), t);
        // Just under the enrolment minimum: 0.005 nearer.
        let just = t.for_face(39, 40);
        assert_eq!(just.verdict(0.495), Verdict::Present);
        assert_eq!(just.verdict(0.496), Verdict::Uncertain);
        assert_eq!(just.verdict(0.60), Verdict::Uncertain);
        assert_eq!(just.verdict(0.601), Verdict::Unknown);
        // 30 px: 0.05 nearer; 20 px and below: 0.10.
        assert_eq!(t.for_face(30, 40).verdict(0.45), Verdict::Present);
        assert_eq!(t.for_face(30, 40).verdict(0.451), Verdict::Uncertain);
        for w in [20, 12, 0] {
            assert_eq!(t.for_face(w, 40).verdict(0.40), Verdict::Present);
            assert_eq!(t.for_face(w, 40).verdict(0.401), Verdict::Uncertain);
        }
        // A school's own thresholds move the small-face rule with them.
        let strict = Thresholds::new(0.45, 0.55).map(|t| t.for_face(20, 40));
        assert!(matches!(strict, Ok(s) if s.verdict(0.35) == Verdict::Present));
        assert!(matches!(strict, Ok(s) if s.verdict(0.351) == Verdict::Uncertain));
        assert!(matches!(strict, Ok(s) if s.verdict(0.55) == Verdict::Uncertain));
    }

    #[test]
    fn invalid_thresholds_are_refused() {
        assert!(Thresholds::new(0.5, 0.6).is_ok());
        assert!(matches!(
            Thresholds::new(0.6, 0.6),
            Err(Error::ThresholdsOrder { .. })
        ));
        assert!(matches!(
            Thresholds::new(0.7, 0.6),
            Err(Error::ThresholdsOrder { .. })
        ));
        for (c, u) in [
            (0.0, 0.6),
            (-0.1, 0.6),
            (f32::NAN, 0.6),
            (0.5, f32::INFINITY),
            (0.5, f32::NAN),
        ] {
            assert!(
                matches!(
                    Thresholds::new(c, u),
                    Err(Error::ThresholdsNotPositive { .. })
                ),
                "{c} {u}"
            );
        }
    }
}
