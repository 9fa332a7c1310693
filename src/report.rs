//! Reports: pure functions from results to bytes (JSON, CSV, text tables),
//! and the one place that writes an output folder, atomically.

pub mod batch_plots;
pub mod compare;
pub mod csv;
pub mod plots;
pub mod table;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::metrics::Summary;

/// summary.json: pretty-printed, newline-terminated, byte-stable.
pub fn summary_json(summary: &Summary) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(summary).expect("summary serialises");
    out.push(b'\n');
    out
}

/// Replaces one file atomically (write a sibling, then rename over it).
pub fn replace_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Files that mark a folder as gatesim's own output, safe to replace.
const MARKERS: &[&str] = &["summary.json", "comparison.json", "sweep.json"];

/// Refuses to replace a file, or a non-empty folder gatesim did not write:
/// `--out ~/Documents` must not delete someone's documents.
fn refuse_foreign(dir: &Path) -> io::Result<()> {
    let Ok(meta) = fs::metadata(dir) else { return Ok(()) };
    let foreign = if !meta.is_dir() {
        Some("it is a file, not a folder")
    } else if fs::read_dir(dir)?.next().is_some() && !MARKERS.iter().any(|m| dir.join(m).exists()) {
        Some("it is a folder with other files in it, not gatesim output")
    } else {
        None
    };
    match foreign {
        Some(why) => Err(io::Error::other(format!("will not replace {}: {why}; choose another --out", dir.display()))),
        None => Ok(()),
    }
}

/// Writes `files` into `dir` so that readers never see a half-written
/// folder: everything goes into a fresh temporary sibling folder, which
/// then replaces `dir` by rename. On error the old `dir` is left as it was.
pub fn write_folder<N: AsRef<str>>(dir: &Path, files: &[(N, Vec<u8>)]) -> io::Result<()> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent)?;
    refuse_foreign(dir)?;
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("output");
    let tmp = tempfile::Builder::new().prefix(&format!(".{name}.tmp-")).tempdir_in(&parent)?;
    for (file, bytes) in files {
        fs::write(tmp.path().join(file.as_ref()), bytes)?;
    }
    let staged = tmp.keep();
    if dir.exists() {
        let old = tempfile::Builder::new().prefix(&format!(".{name}.old-")).tempdir_in(&parent)?.keep();
        fs::remove_dir(&old)?;
        fs::rename(dir, &old)?;
        if let Err(e) = fs::rename(&staged, dir) {
            // Put the previous results back before reporting the error.
            let _ = fs::rename(&old, dir);
            let _ = fs::remove_dir_all(&staged);
            return Err(e);
        }
        fs::remove_dir_all(&old)?;
    } else if let Err(e) = fs::rename(&staged, dir) {
        let _ = fs::remove_dir_all(&staged);
        return Err(e);
    }
    Ok(())
}
