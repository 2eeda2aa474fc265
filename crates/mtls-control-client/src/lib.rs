//! Placeholder (interface stage): the control-plane client helper fills this crate.
