//! See README.md for what this module owns.
