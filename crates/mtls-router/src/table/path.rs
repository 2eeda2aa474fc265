//! Path lookups: a request path's segment prefixes, probed longest first.

/// The path part of a request target: everything before the first `?`.
pub(crate) fn strip_query(path: &str) -> &str {
    path.split_once('?').map_or(path, |(path, _)| path)
}

/// The first hit of `find` among the non-root segment prefixes of `path` (no query), from
/// the longest to the shortest (`/a/b/c`, `/a/b`, `/a`), and that prefix's segment count.
/// Probes of more than `max_segments` segments (the longest stored prefix) are skipped.
/// The root prefix `/` is never probed: it is the caller's fallback.
pub(crate) fn longest_prefix(
    path: &str,
    max_segments: usize,
    mut find: impl FnMut(&str) -> Option<u32>,
) -> Option<(u32, usize)> {
    let bytes = path.as_bytes();
    // A prefix of n segments holds n slashes; a probe ends before a slash or at the end.
    // Start at the longest probe that can still match: just before the (max_segments + 1)-th
    // slash.
    let mut end = bytes.len();
    let mut slashes = 0;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'/' {
            if slashes == max_segments {
                end = i;
                break;
            }
            slashes += 1;
        }
    }
    loop {
        let probe = &path[..end];
        if end > 0
            && probe != "/"
            && let Some(position) = find(probe)
        {
            return Some((position, slashes));
        }
        match bytes[..end].iter().rposition(|b| *b == b'/') {
            Some(slash) if slash > 0 => {
                end = slash;
                slashes -= 1;
            }
            _ => return None,
        }
    }
}
