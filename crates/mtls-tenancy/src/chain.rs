//! An error with its sources on one line, for log fields.

use std::error::Error as StdError;
use std::fmt;

/// Displays an error and all its sources: `outer: middle: inner`.
pub(crate) struct ErrorChain<'a>(pub(crate) &'a (dyn StdError + 'static));

// === impl ErrorChain ===

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}
