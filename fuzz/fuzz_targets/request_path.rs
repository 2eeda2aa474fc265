//! `mtls_request_path::normalize` on arbitrary UTF-8 request paths, with escaped slashes
//! refused and kept: no panic; the output is idempotent and in normal form; and it never
//! climbs: once the input has entered its first segment and never climbs back above it, the
//! output is under that segment, and (escaped slashes refused) an upstream that decodes the
//! output once and resolves dot segments again sees the same segments the gateway routed on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtls_request_path::{EscapedSlashes, NormalizeOptions, normalize};

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// A segment with unreserved escapes decoded and the others uppercased, as the normaliser
/// writes it (only called on accepted input, so escapes are well formed).
fn canonical_segment(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = &segment[i + 1..i + 3];
            let byte = u8::from_str_radix(hex, 16).expect("accepted escapes are hex");
            if is_unreserved(byte) {
                out.push(char::from(byte));
            } else {
                out.push('%');
                out.push_str(&hex.to_ascii_uppercase());
            }
            i += 3;
        } else {
            out.push(char::from(bytes[i]));
            i += 1;
        }
    }
    out
}

/// Everything percent-decoded once, as a decoding upstream sees it.
fn fully_decoded(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(Ok(byte)) = text.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16))
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// The segments left after resolving `.`, `..` and empty segments, clamped at the root.
fn resolve<'a>(segments: impl Iterator<Item = &'a [u8]>) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    for segment in segments {
        match segment {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            name => out.push(name),
        }
    }
    out
}

fn check(raw: &str, escaped_slashes: EscapedSlashes) {
    let Ok(out) = normalize(raw, NormalizeOptions { escaped_slashes }) else {
        return;
    };
    // Idempotent, and in normal form.
    let again = normalize(&out, NormalizeOptions { escaped_slashes })
        .unwrap_or_else(|e| panic!("{raw:?} -> {out:?}, which is refused: {e}"));
    assert_eq!(again, out, "{raw:?}: normalising twice changed it");
    assert!(out.len() <= raw.len(), "{raw:?} grew to {out:?}");
    assert!(out.starts_with('/') && !out.contains("//"), "{raw:?} -> {out:?}");
    for segment in out[1..].split('/') {
        assert!(segment != "." && segment != "..", "{raw:?} -> {out:?}");
        assert_eq!(canonical_segment(segment), segment, "{raw:?} -> {out:?}");
    }

    // Never climbs above the input's first segment: walk the input's segments (as the
    // normaliser decodes them) with a depth counter clamped at the root; once a name
    // segment enters depth 1, and the depth never drops below 1 again, the output's first
    // segment is that name.
    let segments: Vec<String> = raw[1..].split('/').map(canonical_segment).collect();
    let mut depth = 0usize;
    let mut first: Option<&str> = None;
    let mut climbed_out = false;
    for segment in &segments {
        match segment.as_str() {
            "" | "." => {}
            ".." => {
                depth = depth.saturating_sub(1);
                if first.is_some() && depth == 0 {
                    climbed_out = true;
                }
            }
            name => {
                if depth == 0 && first.is_none() {
                    first = Some(name);
                }
                depth += 1;
            }
        }
    }
    if let (Some(first), false) = (first, climbed_out) {
        let under = out.strip_prefix('/').and_then(|rest| rest.strip_prefix(first));
        assert!(
            under.is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
            "{raw:?} -> {out:?} climbed above its first segment {first:?}"
        );
    }

    // With escaped slashes refused, a decoding upstream resolves the output to the same
    // segments the gateway routed on.
    if escaped_slashes == EscapedSlashes::Refuse {
        let decoded = fully_decoded(&out);
        let upstream = resolve(decoded[1..].split(|b| *b == b'/' || *b == b'\\'));
        let routed: Vec<Vec<u8>> = out[1..]
            .split('/')
            .filter(|s| !s.is_empty())
            .map(fully_decoded)
            .collect();
        let routed: Vec<&[u8]> = routed.iter().map(Vec::as_slice).collect();
        assert_eq!(upstream, routed, "{raw:?} -> {out:?}: an upstream resolves it elsewhere");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    check(raw, EscapedSlashes::Refuse);
    check(raw, EscapedSlashes::Keep);
});
