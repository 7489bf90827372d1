//! Writes a sample of every mail kind, for every audience it goes to, in
//! English and Russian, as text and HTML into `docs/mail/` (or the folder
//! given as the first argument):
//! `cargo run -p keyholder-audit --example render_mails`.

use keyholder_audit::domain::event::Kind;
use keyholder_audit::domain::facts::render_event;
use keyholder_audit::domain::invitation_mail;
use keyholder_audit::domain::notify::audiences;
use keyholder_audit::domain::samples::event;
use keyholder_audit::domain::templates::{Locale, Rendered};
use std::path::{Path, PathBuf};

fn write(dir: &Path, stem: &str, r: &Rendered) -> std::io::Result<()> {
    std::fs::write(
        dir.join(format!("{stem}.txt")),
        format!("Subject: {}\n\n{}", r.subject, r.text),
    )?;
    std::fs::write(dir.join(format!("{stem}.html")), &r.html)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/mail"));
    std::fs::create_dir_all(&dir)?;
    let mut n = 0;
    for kind in Kind::ALL {
        for &audience in audiences(kind) {
            for locale in Locale::ALL {
                let Some(r) = render_event(&event(kind), audience, locale, "Acme Trading") else {
                    continue;
                };
                let stem = format!(
                    "{}.{}.{}",
                    kind.as_str().to_lowercase(),
                    audience.as_str(),
                    locale.as_str()
                );
                write(&dir, &stem, &r?)?;
                n += 1;
            }
        }
    }
    let mut invited = event(Kind::IntegratorInvited);
    for locale in Locale::ALL {
        invited
            .attributes
            .insert("locale".into(), locale.as_str().into());
        for (k, v) in [
            ("email", "ivan@integra.example"),
            ("display_name", "Ivan Integrator"),
            ("tenant_name", "Acme Trading"),
            ("partner_name", "Integra LLC"),
        ] {
            invited.attributes.insert(k.into(), v.into());
        }
        let i = invitation_mail::from_event(&invited, "sample-one-time-token")?;
        let stem = format!("integrator_invited.invitee.{}", locale.as_str());
        write(&dir, &stem, &invitation_mail::render(&i)?)?;
        n += 1;
    }
    println!("wrote {n} mails (text and HTML) to {}", dir.display());
    Ok(())
}
