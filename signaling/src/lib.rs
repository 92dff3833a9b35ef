//! Tracker server library.
