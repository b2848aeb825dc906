//! The wrong file given to `nines report`, `merge` or `compare` is named for what it is, in one
//! line, at once: an empty file, JSON that is no report, a list, a binary file, a file far
//! larger than any result. Nothing is read whole to find that out.
//!
//! This file runs only `nines report|merge|compare` on such files, so the largest memory any
//! child of this test process used is theirs (getrusage(RUSAGE_CHILDREN)).

mod util;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use util::{nines, scratch};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `nines ARGS` must fail with exit status 1 and one line on stderr; that line.
fn one_line_error(args: &[&str]) -> String {
    let out = nines(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    assert!(out.stdout.is_empty(), "{args:?}");
    err.trim_end().to_string()
}

#[test]
fn files_that_are_no_report_are_named_for_what_they_are() {
    let d = scratch("inputs-kinds");
    let cases: [(&str, &[u8], &str); 6] = [
        ("empty.json", b"", "is empty"),
        (
            "null.json",
            b"null\n",
            "is JSON but not a nines report: null",
        ),
        (
            "list.json",
            b"[1,2,3]\n",
            "is a JSON array, not a nines report",
        ),
        ("number.json", b"42", "is JSON but not a nines report: 42"),
        (
            "packed.json.gz",
            b"\x1f\x8b\x08\x00\x00",
            "is gzip-compressed: decompress it first",
        ),
        (
            "notes.txt",
            b"hello\n",
            "is not a nines report, sweep or HdrHistogram interval log: it begins \"hello\\n\"",
        ),
    ];
    for (name, bytes, what) in cases {
        let p: PathBuf = d.join(name);
        std::fs::write(&p, bytes).unwrap();
        let want = format!("nines: error: {} {what}", p.display());
        for args in [
            vec!["report", s(&p)],
            vec!["merge", s(&p)],
            vec!["compare", s(&p), s(&p)],
        ] {
            let err = one_line_error(&args);
            assert!(err.starts_with(&want), "{args:?}: {err}\nwant: {want}");
        }
    }
}

#[test]
fn a_file_of_gigabytes_is_refused_at_once_without_reading_it() {
    let d = scratch("inputs-huge");
    // Sparse files: 2 GiB and more on paper, no disk and no page cache in fact.
    let big = 2 * (1u64 << 30) + 1;
    let json = d.join("huge.json");
    let f = std::fs::File::create(&json).unwrap();
    std::io::Write::write_all(&mut &f, b"{\"format\": \"nines-report/2\", \"requests\": ").unwrap();
    f.set_len(big).unwrap();
    let zeros = d.join("zeros.json");
    std::fs::File::create(&zeros).unwrap().set_len(big).unwrap();

    let started = Instant::now();
    let err = one_line_error(&["report", s(&json)]);
    assert!(
        err.ends_with(&format!(
            "{} is 2.0 GiB: larger than the 1.0 GiB a result file is read up to (a day-long run's report is about 250 MB)",
            json.display()
        )),
        "{err}"
    );
    let err = one_line_error(&["merge", s(&zeros), s(&json)]);
    assert!(
        err.ends_with(&format!(
            "{} is binary (it begins 00 00 00 00 00 00 00 00), not a nines report, sweep or HdrHistogram interval log",
            zeros.display()
        )),
        "{err}"
    );
    let err = one_line_error(&["compare", s(&json), s(&zeros)]);
    assert!(err.contains("larger than the 1.0 GiB"), "{err}");
    // Before the cap each of these read 2 GiB into memory (2.1 GB resident, 14 s) before its
    // error; refused from the first bytes, each takes what starting the binary takes.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let max_rss_kib = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .unwrap()
        .max_rss();
    assert!(
        max_rss_kib < 100 * 1024,
        "a child held {max_rss_kib} KiB: the file was read"
    );
}
