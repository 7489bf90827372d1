//! The rights grammar (`entity:action`, prefixes, wildcards) and the
//! relations between rights that delegation and CheckAccess rely on.

use keyholder_rights::{Capability, Right};

/// Three lines: two rights and a concrete `entity:action` to probe with.
pub fn rights(data: &[u8]) {
    let text = crate::text(data);
    let mut lines = text.splitn(3, '\n');
    let a = Right::parse(lines.next().unwrap_or_default());
    let b = Right::parse(lines.next().unwrap_or_default());
    let probe = lines.next().unwrap_or_default();
    for r in [&a, &b].into_iter().flatten() {
        // What parses prints back to itself.
        assert_eq!(Right::parse(&r.to_string()).as_ref(), Ok(r));
        assert!(r.covers_right(r), "{r} does not cover itself");
        assert!(r.overlaps(r), "{r} does not overlap itself");
        let _ = Capability::exercised_by(r);
        let _ = Capability::reached_by(r);
    }
    if let (Ok(a), Ok(b)) = (&a, &b) {
        assert_eq!(
            a.overlaps(b),
            b.overlaps(a),
            "overlap of {a} and {b} is one-sided"
        );
        if a.covers_right(b) {
            assert!(a.overlaps(b), "{a} covers {b} without overlapping it");
            // Covering is sound: whatever b allows, a allows.
            if let Some((entity, action)) = probe.split_once(':')
                && keyholder_rights::right::valid_entity(entity)
                && keyholder_rights::right::valid_action(action)
                && b.covers(entity, action)
            {
                assert!(
                    a.covers(entity, action),
                    "{a} covers {b}, but not {entity}:{action}, which {b} allows"
                );
            }
        }
        let stored = keyholder_rights::right::encode(&[a.clone(), b.clone()]);
        assert_eq!(
            keyholder_rights::right::decode(&stored),
            vec![a.clone(), b.clone()]
        );
    }
}
