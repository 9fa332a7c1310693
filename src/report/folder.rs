//! Writing an output folder so that it is never half-written, never lost,
//! and never takes a user's files with it.
//!
//! - Everything is written into a fresh temporary sibling folder, which then
//!   replaces the output folder in one atomic exchange (Linux
//!   `renameat2(RENAME_EXCHANGE)`; elsewhere two renames, with the old
//!   folder put back on failure). The temporary folder is removed on every
//!   path, errors included (it is a `TempDir` until it is in place).
//! - A folder is replaced only if gatesim wrote it: it holds the marker file
//!   `.gatesim` listing what gatesim wrote there, and nothing else. A folder
//!   with any other file is refused, so `--out ~/Documents` deletes nothing.
//! - Leftovers of a run that was killed mid-way (`.NAME.tmp-*`) are removed
//!   by the next run into the same folder, if they carry the marker.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The marker file: `{"tool": "gatesim", "version": ..., "files": [...]}`.
const MARKER: &str = ".gatesim";

#[derive(serde::Serialize, serde::Deserialize)]
struct Marker {
    tool: String,
    version: String,
    files: Vec<String>,
}

fn marker_bytes(files: &[String]) -> Vec<u8> {
    let m = Marker { tool: "gatesim".into(), version: env!("CARGO_PKG_VERSION").into(), files: files.to_vec() };
    let mut out = serde_json::to_vec_pretty(&m).expect("marker serialises");
    out.push(b'\n');
    out
}

/// The files gatesim says it wrote into `dir`, if `dir` is gatesim's.
fn written_by_gatesim(dir: &Path) -> Option<Vec<String>> {
    let text = fs::read_to_string(dir.join(MARKER)).ok()?;
    let m: Marker = serde_json::from_str(&text).ok()?;
    (m.tool == "gatesim").then_some(m.files)
}

/// Whether `f` (a path relative to an output folder) is a name gatesim
/// writes: its files and pictures, a batch's `reports/N-NAME/` runs, the marker.
fn gatesim_name(f: &str) -> bool {
    const NAMES: &[&str] = &[
        MARKER,
        "summary.json",
        "run.json",
        "scenario.ron",
        "timeseries.csv",
        "report.html",
        "topology.dot",
        "trace.json",
        "trace.perfetto.json",
        "runs.json",
        "comparison.json",
        "comparison.csv",
        "comparison.html",
        "sweep.json",
        "sweep.csv",
        "sweep.html",
    ];
    // Pictures by the names gatesim gives them, not any picture: a folder
    // of the user's own images is not gatesim's to replace.
    const CHARTS: &[&str] = &["latency", "errors", "throughput", "queues", "breakers", "topology"];
    let f = match f.strip_prefix("reports/").and_then(|r| r.split_once('/')) {
        Some((_, rest)) => rest,
        None => f,
    };
    let stem = f.strip_suffix(".svg").or_else(|| f.strip_suffix(".png"));
    let picture = stem.is_some_and(|s| {
        CHARTS.contains(&s)
            || ["comparison_", "sweep_"].iter().any(|p| s.starts_with(p))
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    NAMES.contains(&f) || picture
}

/// A folder written by gatesim before the marker existed: only file names
/// gatesim writes, and a run.json that names gatesim (or a batch's runs.json
/// beside its comparison or sweep).
fn legacy_output(dir: &Path, found: &[String]) -> Option<Vec<String>> {
    let has = |f: &str| found.iter().any(|x| x == f);
    let run = fs::read_to_string(dir.join("run.json")).is_ok_and(|t| t.contains("\"gatesim_version\""));
    let batch = has("runs.json") && (has("comparison.json") || has("sweep.json"));
    let names = found.iter().all(|f| !f.contains('/') && gatesim_name(f));
    (names && (run || batch)).then(|| found.to_vec())
}

/// Every entry of `dir` (files and folders), as paths relative to it.
fn entries(dir: &Path, prefix: &str, out: &mut Vec<String>) -> io::Result<()> {
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = format!("{prefix}{}", e.file_name().to_string_lossy());
        if e.file_type()?.is_dir() {
            entries(&e.path(), &format!("{name}/"), out)?;
        } else {
            out.push(name);
        }
    }
    Ok(())
}

/// Why an output folder was not written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The place is not gatesim's to replace (a bad `--out`).
    #[error("will not replace {path}: {why}; choose another --out")]
    Refused { path: PathBuf, why: String },
    /// The file system failed (no space, no permission, ...).
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Refuses to replace a file, or a folder holding anything gatesim did not
/// write. `run` asks before a long run, so that the refusal does not come
/// after it; `write_folder` asks again when it writes.
pub fn check_target(dir: &Path) -> Result<(), WriteError> {
    let Ok(meta) = fs::symlink_metadata(dir) else { return Ok(()) };
    let refuse = |why: String| Err(WriteError::Refused { path: dir.to_path_buf(), why });
    if !meta.is_dir() {
        return refuse("it is not a folder".into());
    }
    let mut found = Vec::new();
    entries(dir, "", &mut found)?;
    if found.is_empty() {
        return Ok(());
    }
    let Some(ours) = written_by_gatesim(dir).or_else(|| legacy_output(dir, &found)) else {
        return refuse("it holds files and no gatesim marker (.gatesim): gatesim did not write it".into());
    };
    let mut foreign: Vec<&String> = found.iter().filter(|f| *f != MARKER && !ours.contains(f)).collect();
    foreign.sort();
    if foreign.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = foreign.iter().take(3).map(|s| s.as_str()).collect();
    let more = if foreign.len() > 3 { format!(" and {} more", foreign.len() - 3) } else { String::new() };
    refuse(format!("it holds files gatesim did not write ({}{more})", shown.join(", ")))
}

/// Whether the run that named a temporary folder `.NAME.tmp-PID-...` is
/// still running (`rest` is what follows `.tmp-`). Without a process id
/// (an older gatesim's folder) it is taken as gone; where processes cannot
/// be looked up, as alive (the folder is then kept: never delete a running
/// run's work).
fn owner_alive(rest: &str) -> bool {
    let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { return false };
    if cfg!(target_os = "linux") { Path::new("/proc").join(pid.to_string()).exists() } else { true }
}

/// Removes what a killed run left beside `dir`: `.NAME.tmp-*` folders
/// that carry the marker, or that hold nothing but names gatesim writes (a
/// run killed before or while it wrote the marker leaves such a folder).
fn remove_leftovers(parent: &Path, name: &str) {
    let Ok(list) = fs::read_dir(parent) else { return };
    let prefix = format!(".{name}.tmp-");
    for e in list.flatten() {
        let path = e.path();
        let file_name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = file_name.strip_prefix(&prefix) else { continue };
        // Another run writing into the same place right now is not a leftover.
        if !e.file_type().is_ok_and(|t| t.is_dir()) || owner_alive(rest) {
            continue;
        }
        let mut found = Vec::new();
        let ours = written_by_gatesim(&path).is_some()
            || entries(&path, "", &mut found).is_ok() && found.iter().all(|f| gatesim_name(f));
        if ours {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

/// Writes `files` (paths relative to `dir`, "/" for subfolders) as the
/// whole content of `dir`, replacing what was there (module docs).
pub fn write_folder<N: AsRef<str>>(dir: &Path, files: &[(N, Vec<u8>)]) -> Result<(), WriteError> {
    let dir = std::path::absolute(dir)?;
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name().and_then(|n| n.to_str())) else {
        return Err(WriteError::Refused { path: dir.clone(), why: "it cannot be an output folder".into() });
    };
    fs::create_dir_all(parent)?;
    // Two runs into one `--out` at once take turns: each one's check and
    // swap see the other's finished folder, never a half-swapped one.
    let _turn = lock(parent)?;
    check_target(&dir)?;
    remove_leftovers(parent, name);
    // The process id in the name tells a concurrent run's folder from a killed one's.
    let prefix = format!(".{name}.tmp-{}-", std::process::id());
    let tmp = tempfile::Builder::new().prefix(&prefix).tempdir_in(parent)?;
    let names: Vec<String> = files.iter().map(|(n, _)| n.as_ref().to_string()).collect();
    fs::write(tmp.path().join(MARKER), marker_bytes(&names))?;
    for (file, bytes) in files {
        let path = tmp.path().join(file.as_ref());
        if let Some(sub) = path.parent() {
            fs::create_dir_all(sub)?;
        }
        fs::write(path, bytes)?;
    }
    if fs::symlink_metadata(&dir).is_ok() {
        // `tmp` now holds the old results and is removed when it drops.
        Ok(exchange(tmp.path(), &dir)?)
    } else {
        fs::rename(tmp.path(), &dir)?;
        let _ = tmp.keep();
        Ok(())
    }
}

/// Holds an exclusive advisory lock on `parent` (a folder) until dropped,
/// so concurrent gatesim runs writing beside each other take turns. No
/// lock file is left behind: the lock is on the folder itself.
#[cfg(target_os = "linux")]
fn lock(parent: &Path) -> io::Result<fs::File> {
    use rustix::fs::{FlockOperation, flock};
    let folder = fs::File::open(parent)?;
    flock(&folder, FlockOperation::LockExclusive).map_err(io::Error::from)?;
    Ok(folder)
}

/// Without `flock` on folders, runs do not take turns (documented race).
#[cfg(not(target_os = "linux"))]
fn lock(_parent: &Path) -> io::Result<()> {
    Ok(())
}

/// Swaps two folders atomically.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(io::Error::from)
}

/// Swaps two folders: two renames, putting `b` back if the second fails.
#[cfg(not(target_os = "linux"))]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    let aside: PathBuf = a.with_extension("old");
    fs::rename(b, &aside)?;
    if let Err(e) = fs::rename(a, b) {
        let _ = fs::rename(&aside, b);
        return Err(e);
    }
    fs::rename(&aside, a)
}

/// Replaces one file atomically (write a sibling, then rename over it),
/// readable as any file `fs::write` makes (0644 under a 022 umask; a temp
/// file would be 0600).
pub fn replace_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir: PathBuf = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(&dir)?;
    io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
