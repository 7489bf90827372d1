use super::*;
use std::path::Path;

fn ring(text: &str) -> KekRing {
    KekRing::parse(text).unwrap_or_else(|e| unreachable!("{e}"))
}

fn fresh() -> String {
    generate()
        .map(|s| s.expose().to_string())
        .unwrap_or_default()
}

#[test]
fn seals_and_opens_bound_to_purpose_and_row() -> Result<(), KekError> {
    let r = ring(&fresh());
    let env = r.seal_str("identity.totp", "user-1", "JBSWY3DPEHPK3PXP")?;
    assert!(is_envelope(&env));
    assert!(!env.contains("JBSWY3DPEHPK3PXP"));
    assert_eq!(
        r.open_str("identity.totp", "user-1", &env)?,
        "JBSWY3DPEHPK3PXP"
    );
    // Moved to another row, or read as another purpose: refused.
    assert!(matches!(
        r.open("identity.totp", "user-2", &env),
        Err(KekError::Open(_))
    ));
    assert!(matches!(
        r.open("identity.signing_key", "user-1", &env),
        Err(KekError::Open(_))
    ));
    // Plaintext is refused, not passed through.
    assert!(matches!(
        r.open("identity.totp", "user-1", "JBSWY3DPEHPK3PXP"),
        Err(KekError::NotSealed(_))
    ));
    Ok(())
}

#[test]
fn a_flipped_byte_does_not_open() -> Result<(), KekError> {
    let r = ring(&fresh());
    let env = r.seal("p", "row", b"secret")?;
    let mut bytes = env.into_bytes();
    let last = bytes.len() - 2;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(bytes).unwrap_or_default();
    assert!(matches!(
        r.open("p", "row", &altered),
        Err(KekError::Open(_))
    ));
    Ok(())
}

#[test]
fn a_ring_opens_with_old_keys_and_reseals_with_the_new() -> Result<(), KekError> {
    let (old, new) = (fresh(), fresh());
    let old_ring = ring(&old);
    let env_old = old_ring.seal("p", "row", b"secret")?;
    let both = ring(&format!("{new}\n{old}\n"));
    assert_eq!(both.ids().len(), 2);
    assert_eq!(both.open("p", "row", &env_old)?, b"secret");
    let Resealed::Rewrapped(env_new) = both.reseal("p", "row", env_old.as_bytes())? else {
        unreachable!("an old envelope is rewrapped")
    };
    assert_eq!(kek_id_of(&env_new).as_deref(), Some(both.current_id()));
    assert_eq!(
        both.reseal("p", "row", env_new.as_bytes())?,
        Resealed::Current
    );
    // The new key alone opens it; the old key alone no longer does.
    assert_eq!(ring(&new).open("p", "row", &env_new)?, b"secret");
    assert!(matches!(
        old_ring.open("p", "row", &env_new),
        Err(KekError::UnknownKek { .. })
    ));
    Ok(())
}

#[test]
fn plaintext_from_an_earlier_version_is_sealed_as_it_was() -> Result<(), KekError> {
    let r = ring(&fresh());
    let Resealed::WasPlaintext(env) = r.reseal("p", "row", b"MC4CAQAwBQYDK2VwBCIEI")? else {
        unreachable!("plaintext is sealed")
    };
    assert_eq!(r.open("p", "row", &env)?, b"MC4CAQAwBQYDK2VwBCIEI");
    Ok(())
}

#[test]
fn bad_keys_and_empty_rings_are_refused() {
    assert!(matches!(KekRing::parse(""), Err(KekError::NotConfigured)));
    assert!(matches!(
        KekRing::parse("# only a comment\n"),
        Err(KekError::NotConfigured)
    ));
    assert!(matches!(KekRing::parse("c2hvcnQ="), Err(KekError::BadKey)));
    assert!(matches!(
        KekRing::parse("not base64!"),
        Err(KekError::BadKey)
    ));
}

#[test]
fn the_kek_file_is_written_once_owner_only() -> Result<(), KekError> {
    let dir = tempfile::tempdir().map_err(|source| KekError::Io {
        path: "tmp".into(),
        source,
    })?;
    let path = dir.path().join("keys").join("keyholder.kek");
    assert!(create_file_if_missing(&path)?);
    let first = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(!create_file_if_missing(&path)?);
    assert_eq!(std::fs::read_to_string(&path).unwrap_or_default(), first);
    let r = KekRing::from_file(&path)?;
    assert_eq!(r.ids().len(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| {
            std::fs::metadata(p)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0)
        };
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("keys")), 0o700);
    }
    Ok(())
}
