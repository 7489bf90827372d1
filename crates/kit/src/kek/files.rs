//! The KEK file `keyholder up` and `keyholder admin` write.

use super::{KekError, generate};
use std::path::Path;

/// Writes a fresh KEK to `path` (mode 0600, folder 0700) unless the file
/// exists; true when it wrote one.
pub fn create_file_if_missing(path: &Path) -> Result<bool, KekError> {
    use std::io::Write;
    let io = |source| KekError::Io {
        path: path.display().to_string(),
        source,
    };
    if path.exists() {
        return Ok(false);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::files::create_private_dir(dir).map_err(io)?;
    }
    let key = generate()?;
    let mut f = crate::files::create_private_file(path, true).map_err(io)?;
    f.write_all(key.expose().as_bytes()).map_err(io)?;
    f.write_all(b"\n").map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(true)
}
