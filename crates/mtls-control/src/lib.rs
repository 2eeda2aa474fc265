//! Placeholder (interface stage): the control-plane server helper fills this crate.
