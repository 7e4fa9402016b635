//! Matching faces to enrolled students (in progress).
