//! Students, consent and face enrolment.
