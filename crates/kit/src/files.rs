//! Files and folders Keyholder creates hold keys, credentials, databases and
//! mail: they are made readable by their owner only (0600 files, 0700
//! folders). Folders that already exist are left as the operator made them.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Creates `dir` and any missing parents with mode 0700.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

/// Opens `path` for writing with mode 0600 (the mode applies when the file is
/// created). With `create_new`, an existing file is an error
/// (`AlreadyExists`); otherwise it is truncated.
pub fn create_private_file(path: &Path, create_new: bool) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true);
    if create_new {
        opts.create_new(true);
    } else {
        opts.create(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// Creates an empty file with mode 0600 unless it exists (so a program that
/// creates it later, such as SQLite, keeps the owner-only mode).
pub fn touch_private_file(path: &Path) -> io::Result<()> {
    match create_private_file(path, true) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens `path` for appending, creating it with mode 0600 if missing (an
/// existing file keeps its mode and content).
pub fn open_private_append(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}
