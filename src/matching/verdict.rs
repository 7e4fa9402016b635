//! What a distance means: present, uncertain (the teacher decides) or unknown.

use super::Error;

/// Validated distance thresholds (`ML_CONFIDENT_THRESHOLD`, `ML_UNCERTAIN_THRESHOLD`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    confident: f32,
    uncertain: f32,
}

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
