//! Files that are never left half-written (native only): the CLI's images and models, and
//! training's checkpoints, settings and finished model.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to a temporary file next to `path` and renames it over `path`, so that an
/// existing file is either replaced whole or left as it was.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Temporary files are private (0600) by default: the result gets the permissions of the
    // file it replaces, or those of any new file (0666 less the umask).
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let new_file = std::fs::Permissions::from_mode(0o666);
        builder.permissions(std::fs::metadata(path).map(|m| m.permissions()).unwrap_or(new_file));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
    tmp.write_all(bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    tmp.persist(path).map_err(|e| format!("cannot write {}: {}", path.display(), e.error))?;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn written_files_get_ordinary_permissions_and_keep_existing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (plain, atomic) = (dir.path().join("plain"), dir.path().join("atomic"));
        std::fs::write(&plain, b"x").unwrap();
        write_atomically(&atomic, b"y").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&atomic), mode(&plain), "like any new file (umask applied)");
        std::fs::set_permissions(&atomic, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&atomic, b"z").unwrap();
        assert_eq!((mode(&atomic), std::fs::read(&atomic).unwrap()), (0o640, b"z".to_vec()));
    }
}
