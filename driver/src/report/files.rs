//! Results written to disk atomically (temp file, fsync, rename), so a reader never sees half
//! of one; [`super::load`] reads them back. A directory is probed the same way before a run, so
//! a run is not spent to find out its results have nowhere to go.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed to disk,
/// then renamed over `path`, so a reader never sees half a result and an interrupted write never
/// destroys the previous one. A `path` that is there and is no regular file (`/dev/null`, a
/// FIFO such as `>(jq .)`, `/dev/stdout`) is written in place: renaming over it would replace
/// the device or pipe with a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if is_special(path) {
        return std::fs::OpenOptions::new()
            .write(true)
            .open(path)?
            .write_all(bytes);
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "output path has no file name",
        )
    })?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = create_fresh(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Checks that `dir` takes a file the way [`write_atomic`] writes one: a temporary file created,
/// written, flushed to disk and renamed there, then removed. Err is the OS's reason (a read-only
/// file system, a missing permission, a full disk), found before a run rather than after it.
pub fn probe_dir(dir: &Path) -> std::io::Result<()> {
    let pid = std::process::id();
    let tmp = dir.join(format!(".nines-probe.{pid}.tmp"));
    let renamed = dir.join(format!(".nines-probe.{pid}"));
    let result = (|| {
        let mut f = create_fresh(&tmp)?;
        f.write_all(b"nines")?;
        f.sync_all()?;
        std::fs::rename(&tmp, &renamed)?;
        std::fs::remove_file(&renamed)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        let _ = std::fs::remove_file(&renamed);
    }
    result
}

/// Whether `path` is there and is neither a regular file nor a directory: a device, a FIFO, a
/// socket (through any symlinks).
pub fn is_special(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// A new file at `path`, never one that was there: a stale temporary file (or a symlink planted
/// in a shared directory) is removed, not written through.
fn create_fresh(path: &Path) -> std::io::Result<std::fs::File> {
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_pipes_are_written_in_place_and_symlinks_not_followed() {
        write_atomic(Path::new("/dev/null"), b"gone").unwrap();
        let meta = std::fs::metadata("/dev/null").unwrap();
        assert!(!meta.is_file(), "/dev/null is still a device");
        let dir = std::env::temp_dir().join(format!("nines-planted-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, b"mine").unwrap();
        let tmp = dir.join(format!(".r.json.{}.tmp", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&victim, &tmp).unwrap();
        write_atomic(&dir.join("r.json"), b"result").unwrap();
        assert_eq!(
            std::fs::read(&victim).unwrap(),
            b"mine",
            "written through a symlink"
        );
        assert_eq!(std::fs::read(dir.join("r.json")).unwrap(), b"result");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn atomic_write_replaces_whole_file_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("nines-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("r.json");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(write_atomic(&dir.join("missing-dir").join("x.json"), b"x").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_probe_leaves_nothing_and_names_a_directory_it_cannot_write_in() {
        let dir = std::env::temp_dir().join(format!("nines-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        probe_dir(&dir).unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        let missing = probe_dir(&dir.join("missing-dir")).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
        // procfs takes no regular files, from root either.
        assert!(probe_dir(Path::new("/proc")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
