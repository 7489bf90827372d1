//! Audit's rules, free of gRPC and SQL.

pub mod chain;
pub mod content_scan;
pub mod event;
pub mod facts;
pub mod history;
pub mod invitation_mail;
pub mod login_cursor;
pub mod notify;
pub mod samples;
pub mod templates;
