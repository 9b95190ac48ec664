//! The one way lyncsim replaces a file: [`write_atomically`] writes the new contents to a
//! temporary file in the same folder, syncs it, renames it over the old one and syncs the
//! folder, so that a reader (or a restart after `kill -9` or a power cut) sees the old contents
//! or the new, never a mix, and the new ones are on disk once it returns. A temporary file
//! that a killed write left behind carries [`TMP_PREFIX`] and is removed by
//! [`remove_leftovers`].
//!
//! Every writer of the service's state folder, a client profile, the training console's data
//! and the ready file goes through here, so there is one level of crash safety.
#![warn(missing_docs)]

use std::io::Write;
use std::path::Path;

/// The start of every temporary file [`write_atomically`] makes: one that a killed write left
/// behind is recognised by it.
pub const TMP_PREFIX: &str = ".lyncsim-tmp-";

/// Replaces `path` with `contents`: readers see the old or the new contents, never a mix, and
/// the new contents survive a crash once this returns (the file and then its folder are
/// synced). The folder is made if it is missing.
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempfile_in(dir)?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Removes the temporary files that killed writes left in `dir` (not below it); returns how
/// many. `.tmp` and six characters is what earlier versions' temporary files were called.
pub fn remove_leftovers(dir: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let legacy = name.starts_with(".tmp") && name.len() == 10;
        if (name.starts_with(TMP_PREFIX) || legacy) && entry.path().is_file() {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_leftovers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/state.json");
        write_atomically(&file, b"old").unwrap();
        write_atomically(&file, b"new").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"new");
        // Only the file itself is left: no temporary file.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);

        std::fs::write(
            dir.path().join("sub").join(format!("{TMP_PREFIX}AbC123")),
            "half",
        )
        .unwrap();
        std::fs::write(dir.path().join("sub/.tmpXyZ789"), "half").unwrap();
        std::fs::write(dir.path().join("sub/.tmp-kept-longer-name"), "mine").unwrap();
        assert_eq!(remove_leftovers(&dir.path().join("sub")).unwrap(), 2);
        assert!(dir.path().join("sub/.tmp-kept-longer-name").exists());
        assert_eq!(remove_leftovers(&dir.path().join("missing")).unwrap(), 0);
    }

    #[test]
    fn a_file_in_the_current_folder_has_a_folder_to_sync() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ready.json");
        write_atomically(&file, b"{}").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"{}");
    }
}
