//! The second net under the log field allow-list: patterns that look like patient identifiers
//! (NHS numbers and phone numbers as runs of ten or more digits, dates, UK postcodes) are masked.

/// The mask written in place of anything that looks like an identifier.
pub const MASK: &str = "[redacted]";

fn is_postcode(word: &str) -> bool {
    // Outward code (A9, A99, AA9, AA99, A9A, AA9A) + inward code (9AA), with or without a space.
    let w: Vec<char> = word.chars().filter(|c| *c != ' ').collect();
    if !(5..=7).contains(&w.len()) {
        return false;
    }
    let (outward, inward) = w.split_at(w.len() - 3);
    let inward_ok = inward[0].is_ascii_digit()
        && inward[1].is_ascii_uppercase()
        && inward[2].is_ascii_uppercase();
    let outward_ok = outward[0].is_ascii_uppercase()
        && outward.iter().any(char::is_ascii_digit)
        && outward
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    inward_ok && outward_ok
}

/// Times percent-decoding is repeated, for text encoded more than once (`%2539`).
const DECODE_ROUNDS: usize = 3;

/// Masks digit runs of 10 or more (spaces allowed between groups), `YYYY-MM-DD` dates and UK
/// postcodes, in the text as percent-decoded: a path or query spelling an NHS number as
/// `%39%34...` or `943%20476%205919` is masked like the plain one.
pub fn redact(text: &str) -> String {
    let mut decoded = std::borrow::Cow::Borrowed(text);
    for _ in 0..DECODE_ROUNDS {
        if !decoded.contains('%') {
            break;
        }
        let next = percent_encoding::percent_decode_str(&decoded)
            .decode_utf8_lossy()
            .into_owned();
        if next == decoded {
            break;
        }
        decoded = next.into();
    }
    mask(&decoded)
}

fn mask(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            // A run of digits with single spaces between groups.
            let mut j = i;
            let mut digits = 0;
            while j < chars.len()
                && (chars[j].is_ascii_digit()
                    || (chars[j] == ' ' && j + 1 < chars.len() && chars[j + 1].is_ascii_digit()))
            {
                digits += usize::from(chars[j].is_ascii_digit());
                j += 1;
            }
            let run: String = chars[i..j].iter().collect();
            let date = run.len() == 4
                && text_at(&chars, j, 6).is_some_and(|t| {
                    let b = t.as_bytes();
                    b[0] == b'-'
                        && b[1].is_ascii_digit()
                        && b[2].is_ascii_digit()
                        && b[3] == b'-'
                        && b[4].is_ascii_digit()
                        && b[5].is_ascii_digit()
                });
            if digits >= 10 {
                out.push_str(MASK);
                i = j;
            } else if date {
                out.push_str(MASK);
                i = j + 6;
            } else {
                out.push_str(&run);
                i = j;
            }
            continue;
        }
        // Postcodes: try the next one or two words starting here.
        if chars[i].is_ascii_uppercase() && (i == 0 || !chars[i - 1].is_ascii_alphanumeric()) {
            let rest: String = chars[i..].iter().collect();
            let mut words = rest
                .split(|c: char| !c.is_ascii_alphanumeric() && c != ' ')
                .next()
                .unwrap_or("")
                .split(' ');
            let first = words.next().unwrap_or("");
            let two = words.next().map(|second| format!("{first} {second}"));
            let hit = two
                .filter(|t| is_postcode(t))
                .or_else(|| Some(first.to_owned()).filter(|t| is_postcode(t)));
            if let Some(hit) = hit {
                out.push_str(MASK);
                i += hit.chars().count();
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn text_at(chars: &[char], at: usize, len: usize) -> Option<String> {
    (at + len <= chars.len()).then(|| chars[at..at + len].iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_nhs_numbers_phone_numbers_dates_and_postcodes() {
        for (input, leaked) in [
            (
                "subject:identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919",
                "9434765919",
            ),
            ("nhs 943 476 5919 here", "943 476 5919"),
            ("call 07700 900123", "07700 900123"),
            ("born 1948-03-14.", "1948-03-14"),
            ("lives at S1 2AB now", "S1 2AB"),
            ("postcode SW1A1AA", "SW1A1AA"),
        ] {
            let out = redact(input);
            assert!(!out.contains(leaked), "{input} -> {out}");
            assert!(out.contains(MASK), "{input} -> {out}");
        }
    }

    #[test]
    fn percent_encoded_identifiers_are_masked_too() {
        for (input, leaked) in [
            ("/fhir/Task/%39%34%33%34%37%36%35%39%31%39", "9434765919"),
            ("nhs-number%7C943%20476%205919", "943 476 5919"),
            ("born%201948%2D03%2D14", "1948-03-14"),
            ("at%20S1%202AB", "S1 2AB"),
            (
                "twice%2539%2534%2533%2534%2537%2536%2535%2539%2531%2539",
                "9434765919",
            ),
        ] {
            let out = redact(input);
            assert!(!out.contains(leaked), "{input} -> {out}");
            assert!(out.contains(MASK), "{input} -> {out}");
        }
    }

    #[test]
    fn leaves_ordinary_operational_values_alone() {
        for input in [
            "partner answered 503 Service Unavailable",
            "Task/01a207da-94c1-734d-b06c-3b32da1ed5d4",
            "attempt 3 of 12, retry in 250 ms",
            "LWS001 A81001 VCS002",
            "127.0.0.1:8080",
        ] {
            assert_eq!(redact(input), input);
        }
    }
}
