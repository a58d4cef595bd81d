//! Resource names derived from display names: DNS-1123 labels (lowercase letters, digits and
//! `-`, at most 63 characters, starting and ending with a letter or digit), the same for the
//! same input, and collisions broken by the Graph id rather than by order, so that a name
//! never depends on which other tenants a run happened to read.

use std::collections::BTreeMap;

/// The longest name produced: a DNS-1123 label, valid for every kind's `metadata.name`.
const MAX: usize = 63;

/// `text` as a DNS-1123 label: lowercased, every run of other characters one `-`, trimmed,
/// cut to 63 characters; `fallback` when nothing is left (a name in another script, say).
pub(crate) fn dns_label(text: &str, fallback: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = cut(out.trim_end_matches('-'), MAX);
    if out.is_empty() {
        cut(fallback, MAX)
    } else {
        out
    }
}

/// At most `max` characters, never ending with `-`.
fn cut(s: &str, max: usize) -> String {
    s.chars()
        .take(max)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

/// `base-suffix`, the base shortened so that the whole stays a label (the suffix too, if it
/// alone would not leave room for one character of the base).
fn with_suffix(base: &str, suffix: &str) -> String {
    let suffix = cut(suffix, MAX - 2);
    let room = MAX - suffix.len() - 1;
    let base = match cut(base, room) {
        b if b.is_empty() => "x".to_string(),
        b => b,
    };
    format!("{base}-{suffix}")
}

/// The short form of a Graph id used to tell apart two objects with the same display name:
/// its first 8 letters and digits, lowercased.
fn short_id(id: &str) -> String {
    id.chars()
        .filter(char::is_ascii_alphanumeric)
        .flat_map(|c| c.to_lowercase())
        .take(8)
        .collect()
}

/// One object to name: its key (unique), the name it would like, and the Graph id that tells
/// it apart from another wanting the same name.
#[derive(Clone, Debug)]
pub(crate) struct Wanted {
    pub(crate) key: String,
    pub(crate) name: String,
    pub(crate) id: String,
}

/// Unique names, by key. A wanted name held by one object only is kept; every object sharing
/// one gets `-<first 8 of its id>`, and if that still collides, its whole id. The result is
/// the same whatever the order of `wanted`.
pub(crate) fn unique(wanted: &[Wanted]) -> BTreeMap<String, String> {
    let mut by_name: BTreeMap<&str, Vec<&Wanted>> = BTreeMap::new();
    for w in wanted {
        by_name.entry(w.name.as_str()).or_default().push(w);
    }
    let mut out = BTreeMap::new();
    for (name, all) in &by_name {
        if all.len() == 1 {
            out.insert(all[0].key.clone(), name.to_string());
            continue;
        }
        let shorts: Vec<String> = all.iter().map(|w| short_id(&w.id)).collect();
        for (w, short) in all.iter().zip(&shorts) {
            let clash = shorts.iter().filter(|s| *s == short).count() > 1;
            let suffix = match clash {
                false => short.clone(),
                true => dns_label(&w.id, short),
            };
            out.insert(w.key.clone(), with_suffix(name, &suffix));
        }
    }
    // A suffixed name may equal another object's plain name ("a-1234abcd" wanted as such):
    // the later key (in key order) gets its whole key appended, which no other has.
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let keys: Vec<String> = out.keys().cloned().collect();
    for key in keys {
        let mut name = out[&key].clone();
        if seen.contains_key(&name) {
            name = with_suffix(&name, &dns_label(&key, "x"));
            out.insert(key.clone(), name.clone());
        }
        seen.insert(name, key);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_label(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    }

    fn w(id: &str, name: &str) -> Wanted {
        Wanted {
            key: id.into(),
            name: name.into(),
            id: id.into(),
        }
    }

    #[test]
    fn a_long_id_as_suffix_still_leaves_a_label() {
        let long = "a".repeat(63);
        let id = format!("{}-{}", "1".repeat(40), "2".repeat(40));
        let names = unique(&[w(&id, &long), w(&format!("{id}x"), &long)]);
        assert!(names.values().all(|n| is_label(n)), "{names:?}");
        assert_eq!(names.len(), 2);
    }

    #[test]
    fn a_display_name_becomes_a_dns_label() {
        assert_eq!(dns_label("Contoso Ltd.", "x"), "contoso-ltd");
        assert_eq!(dns_label("  --Fabrikam__EU--  ", "x"), "fabrikam-eu");
        assert_eq!(dns_label("Ünïcode Société", "x"), "n-code-soci-t");
        assert_eq!(dns_label("日本", "tenant-1234"), "tenant-1234");
        let long = dns_label(&"a b ".repeat(40), "x");
        assert!(is_label(&long), "{long}");
    }

    #[test]
    fn collisions_are_broken_by_id_whatever_the_order() {
        let a = w("aaaa1111-0000", "contoso");
        let b = w("bbbb2222-0000", "contoso");
        let c = w("cccc3333-0000", "fabrikam");
        let one = unique(&[a.clone(), b.clone(), c.clone()]);
        let two = unique(&[c, b, a]);
        assert_eq!(one, two);
        assert_eq!(one["aaaa1111-0000"], "contoso-aaaa1111");
        assert_eq!(one["bbbb2222-0000"], "contoso-bbbb2222");
        assert_eq!(one["cccc3333-0000"], "fabrikam");
    }

    #[test]
    fn ids_sharing_their_first_eight_characters_get_their_whole_id() {
        let names = unique(&[w("abcdefgh-1", "x"), w("abcdefgh-2", "x")]);
        assert_eq!(names["abcdefgh-1"], "x-abcdefgh-1");
        assert_eq!(names["abcdefgh-2"], "x-abcdefgh-2");
    }

    #[test]
    fn a_suffixed_name_never_equals_another_plain_one() {
        let names = unique(&[
            w("k1aaaaaa", "x"),
            w("k2bbbbbb", "x"),
            w("k3", "x-k1aaaaaa"),
        ]);
        let mut all: Vec<&String> = names.values().collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 3, "{names:?}");
        assert!(names.values().all(|n| is_label(n)), "{names:?}");
    }
}
