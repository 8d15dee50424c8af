//! Files that hold keys or personal data (the dev secrets file, the SQLite database and its
//! write-ahead log) are readable by their owner only: created so, and narrowed at start if an
//! earlier version, a copy or a restore left them wider.

use std::path::Path;

/// Makes `path` readable and writable by its owner only. Returns the mode it had when that was
/// wider (so the caller can say so), `None` when it was already private or does not exist.
pub fn owner_only(path: &Path) -> std::io::Result<Option<u32>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            return Ok(None);
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
        Ok(Some(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(None)
    }
}

/// Creates `path` empty and private if it does not exist yet, so whatever writes it next (SQLite)
/// never has a moment with it readable by others.
pub fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn wide_files_are_narrowed_and_new_ones_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let wide = dir.path().join("wide");
        std::fs::write(&wide, "x").unwrap();
        std::fs::set_permissions(&wide, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(owner_only(&wide).unwrap(), Some(0o644));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&wide), 0o600);
        assert_eq!(owner_only(&wide).unwrap(), None);
        let new = dir.path().join("new");
        create_private(&new).unwrap();
        assert_eq!(mode(&new), 0o600);
        assert_eq!(owner_only(&dir.path().join("missing")).unwrap(), None);
    }
}
