#![allow(clippy::result_large_err)] // figment::Jail's own signature

use super::*;

#[test]
fn defaults_env_and_file_layer_in_order() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "k.toml",
            "data_dir = \"/srv/kh\"\n[broker]\nlisten = \"0.0.0.0:6000\"\n",
        )?;
        jail.set_env("KEYHOLDER_IDENTITY__URL", "http://identity:50051");
        jail.set_env("KEYHOLDER_CONFIG", "ignored-by-extract");
        let cfg = Config::load_from(Some(Path::new("k.toml")), Env::prefixed("KEYHOLDER_"))
            .map_err(|e| e.to_string())?;
        assert_eq!(cfg.data_dir, PathBuf::from("/srv/kh"));
        assert_eq!(cfg.broker.listen.port(), 6000);
        assert_eq!(cfg.identity.url, "http://identity:50051");
        assert_eq!(cfg.identity.listen.port(), 50051);
        assert_eq!(
            cfg.database_url(ServiceName::Audit).expose(),
            "sqlite:///srv/kh/audit.db?mode=rwc"
        );
        Ok(())
    });
}

#[test]
fn unknown_keys_are_rejected() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("KEYHOLDER_BROKER__LISTNE", "0.0.0.0:1");
        let err = Config::load_from(None, Env::prefixed("KEYHOLDER_"));
        assert!(matches!(err, Err(ConfigError::Invalid(m)) if m.contains("listne")));
        Ok(())
    });
}

#[test]
fn each_service_reads_its_own_section_and_old_names_say_where_they_went() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("k.toml", "[audit]\ncheckpoint_events = 7\n")?;
        jail.set_env("KEYHOLDER_BROKER__SWEEP_INTERVAL_MS", "250");
        let cfg = Config::load_from(Some(Path::new("k.toml")), Env::prefixed("KEYHOLDER_"))
            .map_err(|e| e.to_string())?;
        assert_eq!(cfg.audit.checkpoint_events, 7);
        // The rest of a partly given section keeps its defaults.
        assert_eq!(cfg.audit.checkpoint_secs, 10);
        assert_eq!(cfg.audit.listen.port(), 50053);
        assert_eq!(cfg.broker.sweep_interval_ms, 250);
        assert_eq!(cfg.identity.standing_poll_ms, 500);
        jail.clear_env();
        jail.set_env("KEYHOLDER_SMTP_URL", "smtp://mail:25");
        let err = Config::load_from(None, Env::prefixed("KEYHOLDER_"));
        let Err(ConfigError::Invalid(m)) = err else {
            return Err("an old top-level key must be refused".to_string().into());
        };
        assert!(
            m.contains("set audit.smtp_url, e.g. KEYHOLDER_AUDIT__SMTP_URL"),
            "{m}"
        );
        // A setting one service has is unknown in another's section.
        jail.clear_env();
        jail.set_env("KEYHOLDER_IDENTITY__SMTP_URL", "smtp://mail:25");
        assert!(Config::load_from(None, Env::prefixed("KEYHOLDER_")).is_err());
        Ok(())
    });
}

#[test]
fn secrets_do_not_print() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("KEYHOLDER_AUDIT__SMTP_URL", "smtp://u:pa55word@mail:587");
        jail.set_env("KEYHOLDER_KEK", "a2VrLWtleS1ub3QtdG8tYmUtcHJpbnRlZA==");
        let cfg =
            Config::load_from(None, Env::prefixed("KEYHOLDER_")).map_err(|e| e.to_string())?;
        assert!(!format!("{cfg:?}").contains("pa55word"));
        assert!(!format!("{cfg:?}").contains("a2VrLWtleS1ub3Q"));
        Ok(())
    });
}
