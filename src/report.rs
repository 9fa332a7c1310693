//! Reports: pure functions from results to bytes (JSON, CSV, text tables),
//! and the one place that writes an output folder, atomically.

pub mod csv;
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

/// Writes `files` into `dir` so that readers never see a half-written
/// folder: everything goes into a fresh temporary sibling folder, which
/// then replaces `dir` by rename. On error the old `dir` is left as it was.
pub fn write_folder(dir: &Path, files: &[(&str, Vec<u8>)]) -> io::Result<()> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent)?;
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("output");
    let tmp = tempfile::Builder::new().prefix(&format!(".{name}.tmp-")).tempdir_in(&parent)?;
    for (file, bytes) in files {
        fs::write(tmp.path().join(file), bytes)?;
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
