//! Property tests: whatever spelling of a capability-backed right is tried
//! (case, Unicode lookalikes, whitespace, re-punctuation, prefixes and
//! suffixes), a delegate is never authorized for it.

#![allow(clippy::unwrap_used)]

use keyholder_rights::{Capability, Right, delegate_may, delegate_may_hand_out, delegate_may_hold};
use proptest::prelude::*;

/// Every right in the capability table.
fn capability_rights() -> Vec<Right> {
    Capability::ALL
        .into_iter()
        .flat_map(|c| c.rights())
        .collect()
}

/// Characters that look like ASCII letters (Cyrillic, Greek, fullwidth,
/// dotless i, long s …) or are invisible.
const LOOKALIKES: &[char] = &[
    'а', 'е', 'о', 'р', 'с', 'у', 'х', 'ѕ', 'і', 'ј', 'ԁ', 'ɑ', 'ο', 'ν', 'ı', 'ſ', 'ｍ', 'ａ',
    '\u{200b}', '\u{00ad}', '\u{0301}',
];
const WHITESPACE: &[char] = &[' ', '\t', '\n', '\u{00a0}', '\u{3000}'];
const SEPARATORS: &[&str] = &[".", "_", "-", "", "..", ". "];

/// One way to re-spell a name.
#[derive(Debug, Clone)]
enum Mutation {
    Upper(usize),
    Lookalike(usize, usize),
    Whitespace(usize, usize),
    Separator(usize),
    LeadingDot,
    TrailingDot,
    PrefixSegment(String),
    SuffixSegment(String),
    PrefixWord(String, usize),
    SuffixWord(String, usize),
}

fn word() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,6}"
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Upper),
        (any::<usize>(), any::<usize>()).prop_map(|(i, c)| Mutation::Lookalike(i, c)),
        (any::<usize>(), any::<usize>()).prop_map(|(i, c)| Mutation::Whitespace(i, c)),
        any::<usize>().prop_map(Mutation::Separator),
        Just(Mutation::LeadingDot),
        Just(Mutation::TrailingDot),
        word().prop_map(Mutation::PrefixSegment),
        word().prop_map(Mutation::SuffixSegment),
        (word(), any::<usize>()).prop_map(|(w, s)| Mutation::PrefixWord(w, s)),
        (word(), any::<usize>()).prop_map(|(w, s)| Mutation::SuffixWord(w, s)),
    ]
}

/// Applies `m` to `name` (which is never empty).
fn apply(name: &str, m: &Mutation) -> String {
    let chars: Vec<char> = name.chars().collect();
    let at = |i: usize| i % chars.len();
    match m {
        Mutation::Upper(i) => {
            let mut c = chars.clone();
            c[at(*i)] = c[at(*i)].to_ascii_uppercase();
            c.into_iter().collect()
        }
        Mutation::Lookalike(i, l) => {
            let mut c = chars.clone();
            c[at(*i)] = LOOKALIKES[l % LOOKALIKES.len()];
            c.into_iter().collect()
        }
        Mutation::Whitespace(i, w) => {
            let mut c = chars.clone();
            c.insert(i % (chars.len() + 1), WHITESPACE[w % WHITESPACE.len()]);
            c.into_iter().collect()
        }
        Mutation::Separator(s) => name.replace('.', SEPARATORS[s % SEPARATORS.len()]),
        Mutation::LeadingDot => format!(".{name}"),
        Mutation::TrailingDot => format!("{name}."),
        Mutation::PrefixSegment(p) => format!("{p}.{name}"),
        Mutation::SuffixSegment(s) => format!("{name}.{s}"),
        Mutation::PrefixWord(p, sep) => format!("{p}{}{name}", ["", "_", "-"][sep % 3]),
        Mutation::SuffixWord(s, sep) => format!("{name}{}{s}", ["", "_", "-"][sep % 3]),
    }
}

/// A capability right, with up to three mutations of its entity and up to
/// one of its action.
fn respelled() -> impl Strategy<Value = (Right, String, String)> {
    let rights = capability_rights();
    (
        0..rights.len(),
        prop::collection::vec(mutation(), 0..=3),
        prop::option::of(mutation()),
    )
        .prop_map(move |(i, entity_ms, action_m)| {
            let right = rights[i].clone();
            let entity = entity_ms
                .iter()
                .fold(right.entity.clone(), |e, m| apply(&e, m));
            let action = match (&action_m, right.action.as_str()) {
                (_, "*") => "*".to_string(),
                (None, a) => a.to_string(),
                (Some(m), a) => apply(a, m),
            };
            (right, entity, action)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// The check `Authorize` makes for an integrator (on the trimmed names,
    /// as the handler passes them) and the broker makes for an agent.
    #[test]
    fn no_spelling_of_a_capability_right_is_authorized((right, entity, action) in respelled()) {
        // A `*` action in the table stands for every action: try a real one.
        let action = if action == "*" { "disable".to_string() } else { action };
        prop_assert!(delegate_may(&entity, &action).is_err(), "{right} as {entity:?}:{action:?}");
        prop_assert!(delegate_may(entity.trim(), action.trim()).is_err(), "{right} as {entity:?}:{action:?}");
    }

    /// Held in a support scope or handed out in a role, no spelling passes
    /// either (what does not parse is refused before it gets there).
    #[test]
    fn no_spelling_of_a_capability_right_is_held_or_handed_out((right, entity, action) in respelled()) {
        if let Ok(parsed) = Right::new(&entity, &action) {
            prop_assert!(delegate_may_hold(&parsed).is_err(), "{right} as {parsed}");
            prop_assert!(delegate_may_hand_out(&parsed).is_err(), "{right} as {parsed}");
        }
    }

    /// Whatever a delegate is authorized for is canonical and exercises no
    /// capability, for arbitrary input, sensitive words mixed in.
    #[test]
    fn what_a_delegate_is_authorized_for_exercises_no_capability(
        entity in prop_oneof![
            any::<String>(),
            prop::collection::vec(
                prop_oneof![
                    word(),
                    Just("identity".to_string()),
                    Just("admins".to_string()),
                    Just("users".to_string()),
                    Just("security".to_string()),
                    Just("totp".to_string()),
                    Just("support_access".to_string()),
                    Just("settings".to_string()),
                    Just("mfa".to_string()),
                ],
                1..4,
            ).prop_map(|ws| ws.join(".")),
        ],
        action in prop_oneof![
            any::<String>(),
            word(),
            Just("disable".to_string()),
            Just("set_admin".to_string()),
            Just("edit".to_string()),
            Just("read".to_string()),
        ],
    ) {
        if delegate_may(&entity, &action).is_ok() {
            let right = Right::new(&entity, &action).unwrap();
            prop_assert_eq!(right.entity.as_str(), entity.as_str());
            prop_assert_eq!(Capability::reached_by(&right), None, "{}", right);
        }
    }
}
