//! Where a result goes when the place asked for fails at the end of a run (a disk filled up, a
//! directory was removed, stdout was closed): the same content is saved in the temporary
//! directory, `nines-<what>-<pid>.<ext>` (a report directory as `nines-report-<pid>/`), and one
//! line says what could not be written, why, and where it is instead, or that it is lost. The
//! paths were checked before the run (`OutputFlags::check`), so this is for what changed since.

use std::path::{Path, PathBuf};

use nines_driver::report::dir::Written;
use nines_driver::report::write_atomic;

use crate::console;

/// Where a result of kind `what` ("json", "hgrm", "hlog": also its extension) is saved when it
/// cannot go where asked.
pub fn spare_file(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!("nines-{what}-{}.{what}", std::process::id()))
}

/// A new directory to save a report directory in when it cannot go where asked:
/// `nines-report-<pid>`, or `-2`, `-3`, ... after it when one is there already (an earlier
/// process's with the same pid, or something planted in a shared /tmp, never written into).
pub fn spare_dir() -> std::io::Result<PathBuf> {
    let base = format!("nines-report-{}", std::process::id());
    let mut last = None;
    for n in 1..=100 {
        let name = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let dir = std::env::temp_dir().join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.expect("tried"))
}

/// Writes `text` to `path` atomically; when it cannot, saves it as [`spare_file`] and says so.
/// False when `path` was not written.
pub fn write_file(path: &Path, text: &str, what: &str) -> bool {
    match write_atomic(path, text.as_bytes()) {
        Ok(()) => true,
        Err(e) => {
            keep(&format!("cannot write {}: {e}", path.display()), text, what);
            false
        }
    }
}

/// Saves `text`, which could not go where asked (`failure` says where and why), as
/// [`spare_file`], and says where it is, or that it is lost and why.
pub fn keep(failure: &str, text: &str, what: &str) {
    let spare = spare_file(what);
    match write_atomic(&spare, text.as_bytes()) {
        Ok(()) => console::error(format_args!(
            "{failure}; saved it to {} instead",
            spare.display()
        )),
        Err(e) => console::error(format_args!("{failure}; not saved: {e}")),
    }
}

/// Writes a report directory with `write` into `dir`; when a file (or `dir` itself) cannot be
/// written, writes the whole directory again as [`spare_dir`] and names, for each file that
/// failed, where it is instead, or why it is lost. True when every file was written in `dir`.
pub fn write_dir(dir: &Path, write: impl Fn(&Path) -> Written) -> bool {
    let w = write(dir);
    for (path, why) in &w.not_drawn {
        console::line(format_args!("nines: {} not drawn: {why}", path.display()));
    }
    if w.ok() {
        return true;
    }
    let spare = match spare_dir() {
        Ok(d) => d,
        Err(e) => {
            for (path, why) in &w.failed {
                console::error(format_args!(
                    "cannot write {}: {why}; not saved: no directory in {} ({e})",
                    path.display(),
                    std::env::temp_dir().display()
                ));
            }
            return false;
        }
    };
    let again = write(&spare);
    for (path, e) in &w.failed {
        let failure = format!("cannot write {}: {e}", path.display());
        // (Every path written is under `dir`; a stray one would be put at the spare's top.)
        let instead = match path.strip_prefix(dir) {
            Ok(relative) => spare.join(relative),
            Err(_) => spare.join(path.file_name().unwrap_or_default()),
        };
        // Lost if it, or a directory it goes in, failed again (the spare directory's own
        // failure stands for every file in it).
        match again
            .failed
            .iter()
            .find(|(p, _)| instead.starts_with(p) || p.starts_with(&instead))
        {
            Some((_, e)) => console::error(format_args!("{failure}; not saved: {e}")),
            None => console::error(format_args!(
                "{failure}; saved it to {} instead",
                instead.display()
            )),
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spare_paths_say_what_they_hold_and_whose_they_are() {
        let pid = std::process::id();
        let json = spare_file("json");
        assert_eq!(json.parent(), Some(std::env::temp_dir().as_path()));
        assert_eq!(
            json.file_name().unwrap().to_str(),
            Some(format!("nines-json-{pid}.json").as_str())
        );
        let first = spare_dir().unwrap();
        let second = spare_dir().unwrap();
        let name = |d: &PathBuf| d.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name(&first).starts_with(&format!("nines-report-{pid}")),
            "{first:?}"
        );
        assert!(
            name(&second).starts_with(&format!("nines-report-{pid}-")) && second != first,
            "a new one beside the first: {second:?}"
        );
        std::fs::remove_dir(first).unwrap();
        std::fs::remove_dir(second).unwrap();
    }
}
