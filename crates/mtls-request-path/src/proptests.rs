//! Properties of the normaliser, and a separate, deliberately naive statement of the rules:
//! RFC 3986 section 5.2.4 written as the RFC's own buffer-moving loop.

use proptest::prelude::*;

use super::*;

const REFUSE: NormalizeOptions = NormalizeOptions {
    escaped_slashes: EscapedSlashes::Refuse,
};
const KEEP: NormalizeOptions = NormalizeOptions {
    escaped_slashes: EscapedSlashes::Keep,
};

fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

/// The rules, naively: check and decode character by character, merge slashes, then remove
/// dot segments with RFC 3986's loop.
fn reference(raw: &str, keep: bool) -> Option<String> {
    if !raw.starts_with('/') {
        return None;
    }
    let chars: Vec<char> = raw.chars().collect();
    let mut decoded = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '%' {
            let hex: String = chars.get(i + 1..i + 3)?.iter().collect();
            if !hex.chars().all(|h| h.is_ascii_hexdigit()) {
                return None;
            }
            let byte = u8::from_str_radix(&hex, 16).ok()?;
            let decoded_char = char::from(byte);
            if decoded_char.is_ascii_control() {
                return None;
            }
            if (decoded_char == '/' || decoded_char == '\\') && !keep {
                return None;
            }
            if is_unreserved(decoded_char) {
                decoded.push(decoded_char);
            } else {
                decoded.push('%');
                decoded.push_str(&hex.to_uppercase());
            }
            i += 3;
            continue;
        }
        if c == '\\' || c.is_ascii_control() || c == ' ' || c == '#' || c == '?' || !c.is_ascii() {
            return None;
        }
        decoded.push(c);
        i += 1;
    }
    let mut merged = String::new();
    for c in decoded.chars() {
        if c == '/' && merged.ends_with('/') {
            continue;
        }
        merged.push(c);
    }
    Some(rfc3986_remove_dot_segments(&merged))
}

/// RFC 3986 section 5.2.4, step by step.
fn rfc3986_remove_dot_segments(path: &str) -> String {
    let mut input = path.to_owned();
    let mut output = String::new();
    let pop = |output: &mut String| {
        let at = output.rfind('/').unwrap_or(0);
        output.truncate(at);
    };
    while !input.is_empty() {
        if input.starts_with("../") {
            input.replace_range(..3, "");
        } else if input.starts_with("./") {
            input.replace_range(..2, "");
        } else if input.starts_with("/./") {
            input.replace_range(..3, "/");
        } else if input == "/." {
            input = "/".into();
        } else if input.starts_with("/../") {
            input.replace_range(..4, "/");
            pop(&mut output);
        } else if input == "/.." {
            input = "/".into();
            pop(&mut output);
        } else if input == "." || input == ".." {
            input.clear();
        } else {
            let start = usize::from(input.starts_with('/'));
            let end = input[start..].find('/').map_or(input.len(), |e| e + start);
            output.push_str(&input[..end]);
            input.replace_range(..end, "");
        }
    }
    output
}

/// A segment as an upstream that percent-decodes everything once would see it.
fn fully_decoded(segment: &str) -> Vec<u8> {
    let bytes = segment.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(Ok(byte)) = segment.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16))
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// The segment pieces the generated paths are made of: names, dot segments in every
/// encoding, escaped separators, empty segments, bad escapes and forbidden bytes.
fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a",
        "b",
        "v1",
        "admin",
        "~u",
        ".",
        "..",
        "...",
        ".a",
        "%2e",
        "%2E",
        "%2e%2e",
        "%2E%2e",
        ".%2e",
        "%2e.",
        "%2e%2e%2e",
        "%2F",
        "%2f",
        "%5C",
        "%5c",
        "..%2f..",
        "%41",
        "%7e",
        "%7E",
        "%20",
        "%c3%a9",
        "%25",
        "%252e",
        "",
        "",
        "%zz",
        "%2",
        "\\",
        "%00",
        "?",
        "é",
        ";x=1",
    ])
}

fn path_like() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(piece(), 0..8).prop_map(|p| format!("/{}", p.join("/"))),
        1 => prop::collection::vec(piece(), 0..8).prop_map(|p| p.concat()),
        1 => "[/.%2eEfFcC5a~\\\\]{0,16}",
    ]
}

/// The segments of a path with unreserved escapes decoded (for depth counting).
fn decoded_segments(path: &str) -> Vec<String> {
    path.split('/')
        .map(|s| {
            let bytes = fully_decoded(s);
            if bytes.iter().all(|b| is_unreserved(char::from(*b))) {
                String::from_utf8(bytes).unwrap_or_default()
            } else {
                s.to_owned()
            }
        })
        .collect()
}

proptest! {
    #[test]
    fn agrees_with_the_rfc_3986_reference(raw in path_like()) {
        for (options, keep) in [(REFUSE, false), (KEEP, true)] {
            let ours = normalize(&raw, options).ok().map(|p| p.into_owned());
            prop_assert_eq!(ours, reference(&raw, keep), "{:?} keep={}", raw, keep);
        }
    }

    #[test]
    fn is_idempotent(raw in path_like()) {
        for options in [REFUSE, KEEP] {
            if let Ok(once) = normalize(&raw, options) {
                let twice = normalize(&once, options);
                prop_assert_eq!(twice.as_deref(), Ok(&*once), "{:?}", raw);
                prop_assert!(NormalizedPath::parse(&once).unwrap().is_unchanged(), "{:?}", raw);
            }
        }
    }

    #[test]
    fn output_is_in_normal_form(raw in path_like()) {
        for options in [REFUSE, KEEP] {
            let Ok(out) = normalize(&raw, options) else { continue };
            prop_assert!(out.starts_with('/'));
            prop_assert!(out.len() <= raw.len(), "{:?} grew to {:?}", raw, out);
            prop_assert!(!out.contains("//"), "{:?} -> {:?}", raw, out);
            prop_assert!(!out.contains('\\'));
            for segment in out[1..].split('/') {
                prop_assert!(segment != "." && segment != "..", "{:?} -> {:?}", raw, out);
            }
            let bytes = out.as_bytes();
            for (i, _) in out.match_indices('%') {
                let hex = &out[i + 1..i + 3];
                prop_assert_eq!(hex.to_ascii_uppercase(), hex, "lowercase escape in {:?}", out);
                let byte = u8::from_str_radix(hex, 16).unwrap();
                prop_assert!(!is_unreserved(char::from(byte)), "encoded unreserved in {:?}", out);
                prop_assert!(byte >= 0x20 && byte != 0x7F);
                if options == REFUSE {
                    prop_assert!(byte != b'/' && byte != b'\\', "escaped separator in {:?}", out);
                }
            }
            prop_assert!(bytes.iter().all(|b| b.is_ascii_graphic()));
        }
    }

    /// No climb: with escaped slashes refused, an upstream that percent-decodes the forwarded
    /// path once, treats `\\` as `/` and resolves dot segments again sees exactly the segments
    /// the gateway routed on. So for every prefix the gateway matched on segment boundaries,
    /// what the upstream serves is under that same prefix.
    #[test]
    fn upstream_resolution_cannot_leave_the_routed_prefix(raw in path_like(), cut in 0usize..8) {
        let Ok(out) = normalize(&raw, REFUSE) else { return Ok(()) };
        // What the upstream resolves.
        let decoded = String::from_utf8_lossy(&fully_decoded(&out)).replace('\\', "/");
        let mut merged = String::new();
        for c in decoded.chars() {
            if !(c == '/' && merged.ends_with('/')) {
                merged.push(c);
            }
        }
        let upstream = rfc3986_remove_dot_segments(&merged);
        // What the gateway routed on, decoded segment by segment.
        let routed: Vec<String> = out[1..]
            .split('/')
            .map(|s| String::from_utf8_lossy(&fully_decoded(s)).into_owned())
            .collect();
        prop_assert_eq!(&upstream, &format!("/{}", routed.join("/")), "{:?} -> {:?}", raw, out);
        // Any prefix the gateway may have matched (the first `cut` segments) is the
        // upstream's prefix too.
        let cut = cut.min(routed.len());
        let prefix = format!("/{}", routed[..cut].join("/"));
        prop_assert!(upstream.starts_with(&prefix), "{:?}: {:?} is not under {:?}", raw, upstream, prefix);
    }

    /// Never climbs above the input's prefix: when everything after a prefix P stays at or
    /// below P (counting `..` as one level up, names one level down, `.` and empty segments
    /// nothing), the output is P or under P on a segment boundary.
    #[test]
    fn stays_under_a_prefix_it_never_climbs_out_of(
        prefix in prop::collection::vec(prop::sample::select(vec!["a", "v1", "b.c", "%41"]), 1..3),
        rest in prop::collection::vec(piece(), 0..8),
    ) {
        let raw = format!("/{}/{}", prefix.join("/"), rest.join("/"));
        let Ok(out) = normalize(&raw, REFUSE) else { return Ok(()) };
        let mut depth = 0i32;
        let mut lowest = 0i32;
        for segment in decoded_segments(&rest.join("/")) {
            match segment.as_str() {
                "" | "." => {}
                ".." => depth -= 1,
                _ => depth += 1,
            }
            lowest = lowest.min(depth);
        }
        let expected_prefix = normalize(&format!("/{}", prefix.join("/")), REFUSE).unwrap().into_owned();
        if lowest >= 0 {
            let under = *out == expected_prefix
                || out.strip_prefix(expected_prefix.as_str()).is_some_and(|r| r.starts_with('/'));
            prop_assert!(under, "{:?} -> {:?} left {:?}", raw, out, expected_prefix);
        }
    }

    #[test]
    fn never_panics_on_arbitrary_text(raw in any::<String>()) {
        let _ = normalize(&raw, REFUSE);
        let _ = normalize(&raw, KEEP);
    }
}
